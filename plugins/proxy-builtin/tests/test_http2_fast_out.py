"""h2out.py writes the response frames the h2 library would write, and leaves the library's state as it would.

Differential: two server connections get the same client frames; one answers through the library's
send_headers/send_data/end_stream, the other through h2out; the bytes on the wire, the streams' states, the
flow-control windows and what each connection does next (trailers, a client's END_STREAM after our response,
window updates, new streams once the old ones closed) must be identical. And h2out declines (returns False,
changing nothing) wherever the library would refuse or do something else."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from h2.stream import StreamState
from rivetr_proxy_builtin import h2out
from rivetr_proxy_builtin.hpack_memo import MemoEncoder

GET = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"https"), (b":authority", b"a.test")]
POST = [(b":method", b"POST"), (b":path", b"/up"), (b":scheme", b"https"), (b":authority", b"a.test")]


def server() -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(
        client_side=False,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
    )
    c = h2.connection.H2Connection(config=config)
    c.encoder = MemoEncoder()
    c.initiate_connection()
    c.data_to_send()
    return c


def client() -> h2.connection.H2Connection:
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    return c


def pair(requests: list[tuple[list, bool]]) -> tuple[h2.connection.H2Connection, ...]:
    """A client and two servers that received the same requests (headers, end_stream) on streams 1, 3, ..."""
    cl = client()
    for i, (headers, end) in enumerate(requests):
        cl.send_headers(1 + 2 * i, headers, end_stream=end)
    frames = cl.data_to_send()
    lib, fast = server(), server()
    lib.receive_data(frames)
    fast.receive_data(frames)
    lib.data_to_send()
    fast.data_to_send()
    return cl, lib, fast


def same_state(lib: h2.connection.H2Connection, fast: h2.connection.H2Connection) -> None:
    assert lib.outbound_flow_control_window == fast.outbound_flow_control_window
    assert set(lib.streams) == set(fast.streams)
    for sid, st in lib.streams.items():
        other = fast.streams[sid]
        a, b = st.state_machine, other.state_machine
        assert (a.state, a.headers_sent, a.trailers_sent, a.stream_closed_by) == (
            b.state,
            b.headers_sent,
            b.trailers_sent,
            b.stream_closed_by,
        ), sid
        assert st.outbound_flow_control_window == other.outbound_flow_control_window
    assert lib.open_inbound_streams == fast.open_inbound_streams
    assert lib._closed_streams == fast._closed_streams


def head(n_fields: int = 3, big: int = 0) -> list[tuple[bytes, bytes]]:
    fields = [(b":status", b"200"), (b"content-type", b"text/html"), (b"server", b"app")]
    fields += [(b"x-f%d" % i, b"v%d" % i) for i in range(n_fields)]
    if big:
        fields.append((b"x-big", b"b" * big))
    return fields


@pytest.mark.parametrize(
    ("headers", "body", "end_on_head"),
    [
        (head(), b"", True),  # HEADERS with END_STREAM
        (head(), b"<p>hello</p>", False),  # HEADERS, DATA with END_STREAM
        (head(), b"x" * 40000, False),  # DATA cut into 16 KiB frames
        (head(big=40000), b"body", False),  # a head beyond one frame: HEADERS + CONTINUATION
        (head(big=40000), b"", True),  # ... with END_STREAM on the HEADERS frame only
    ],
)
def test_a_response_is_byte_for_byte_the_librarys(headers, body, end_on_head):
    _, lib, fast = pair([(GET, True)])
    lib.send_headers(1, headers, end_stream=end_on_head)
    assert h2out.send_head(fast, 1, list(headers), end_on_head)
    if not end_on_head:
        for i in range(0, len(body), 16384):
            lib.send_data(1, body[i : i + 16384], end_stream=i + 16384 >= len(body))
        assert h2out.send_data(fast, 1, body, True)
    assert fast.data_to_send() == lib.data_to_send()
    assert lib.streams[1].state_machine.state is StreamState.CLOSED
    same_state(lib, fast)
    # The closed stream is forgotten by both the same way (same_state counted the open streams, which sweeps).
    assert 1 not in fast.streams and fast._closed_streams == lib._closed_streams == {
        1: lib._closed_streams[1]
    }


def test_several_streams_and_the_same_head_twice_through_the_memo():
    _, lib, fast = pair([(GET, True), (GET, True), (GET, True)])
    for sid in (1, 3, 5):
        lib.send_headers(sid, head(), end_stream=False)
        assert h2out.send_head(fast, sid, head(), False)
    for sid in (5, 1, 3):
        lib.send_data(sid, b"abc%d" % sid, end_stream=True)
        assert h2out.send_data(fast, sid, b"abc%d" % sid, True)
    assert fast.data_to_send() == lib.data_to_send()
    same_state(lib, fast)


def test_trailers_after_a_fast_head_and_data_go_through_the_library():
    _, lib, fast = pair([(GET, True)])
    lib.send_headers(1, head(), end_stream=False)
    assert h2out.send_head(fast, 1, head(), False)
    lib.send_data(1, b"data")
    assert h2out.send_data(fast, 1, b"data", False)
    trailers = [(b"grpc-status", b"0")]
    assert not h2out.send_head(fast, 1, trailers, True)  # trailers: the library's job
    lib.send_headers(1, trailers, end_stream=True)
    fast.send_headers(1, trailers, end_stream=True)
    assert fast.data_to_send() == lib.data_to_send()
    assert fast.streams[1].state_machine.trailers_sent
    same_state(lib, fast)


def test_a_response_before_the_request_body_ends_leaves_the_stream_half_closed():
    cl, lib, fast = pair([(POST, False)])
    lib.send_headers(1, head(), end_stream=False)
    assert h2out.send_head(fast, 1, head(), False)
    lib.send_data(1, b"early", end_stream=True)
    assert h2out.send_data(fast, 1, b"early", True)
    assert fast.data_to_send() == lib.data_to_send()
    same_state(lib, fast)
    assert fast.streams[1].state_machine.state is StreamState.HALF_CLOSED_LOCAL
    cl.send_data(1, b"rest", end_stream=True)
    frames = cl.data_to_send()
    kinds = [type(e) for e in lib.receive_data(frames)]
    assert [type(e) for e in fast.receive_data(frames)] == kinds
    assert h2.events.StreamEnded in kinds
    same_state(lib, fast)


def test_declines_what_the_windows_or_states_do_not_allow():
    cl, _, fast = pair([(GET, True), (GET, True)])
    assert not h2out.send_data(fast, 1, b"x", True)  # no head yet
    assert h2out.send_head(fast, 1, head(), False)
    window = h2out.window(fast, 1)
    assert window == fast.local_flow_control_window(1) == 65535
    before = fast.data_to_send()
    assert not h2out.send_data(fast, 1, b"x" * (window + 1), True)  # beyond the window: nothing sent
    assert fast.data_to_send() == b"" and fast.streams[1].outbound_flow_control_window == window
    assert before
    # The client resets stream 3: h2out declines, the library raises as it always did.
    cl.reset_stream(3)
    fast.receive_data(cl.data_to_send())
    assert not h2out.send_head(fast, 3, head(), True)
    with pytest.raises(h2.exceptions.ProtocolError):
        fast.send_headers(3, head(), end_stream=True)
    assert h2out.window(fast, 99) == -1
    assert not h2out.send_head(fast, 99, head(), True)
    # Once the connection is closed nothing goes out through h2out.
    fast.close_connection()
    assert not h2out.send_data(fast, 1, b"x", True)


def test_informational_heads_are_not_taken():
    _, _, fast = pair([(GET, True)])
    fast.send_headers(1, [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")])
    assert not fast.streams[1].state_machine.headers_sent
    assert h2out.send_head(fast, 1, head(), True)  # the final head after an interim one
    assert fast.streams[1].state_machine.state is StreamState.CLOSED


@pytest.mark.parametrize("body", [b"<p>hello</p>", b"x" * 16384])
@pytest.mark.parametrize("big_head", [0, 40000])
def test_a_whole_response_in_one_step_is_the_librarys(body, big_head):
    _, lib, fast = pair([(GET, True), (POST, False)])
    for sid in (1, 3):
        lib.send_headers(sid, head(big=big_head), end_stream=False)
        lib.send_data(sid, body, end_stream=True)
        assert h2out.send_whole(fast, sid, head(big=big_head), body)
    assert fast.data_to_send() == lib.data_to_send()
    same_state(lib, fast)
    assert fast.streams[3].state_machine.state is StreamState.HALF_CLOSED_LOCAL
    # Declined, nothing changed: a body beyond one frame, beyond the window, a head already sent, a gone stream.
    _, _, fast2 = pair([(GET, True), (GET, True)])
    before = fast2.outbound_flow_control_window
    assert not h2out.send_whole(fast2, 1, head(), b"x" * 16385)
    fast2.streams[1].outbound_flow_control_window = 10
    assert not h2out.send_whole(fast2, 1, head(), b"x" * 11)
    assert h2out.send_head(fast2, 3, head(), False)
    assert not h2out.send_whole(fast2, 3, head(), b"x")
    assert not h2out.send_whole(fast2, 99, head(), b"x")
    assert fast2.outbound_flow_control_window == before
    assert not fast2.streams[1].state_machine.headers_sent
