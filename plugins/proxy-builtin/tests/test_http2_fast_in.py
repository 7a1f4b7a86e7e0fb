"""h2in.py takes plain request HEADERS frames off the wire exactly as the h2 library would.

Differential: the same client bytes, cut into the same chunks, go to two server connections; one receives
everything through the library's receive_data, the other as H2Conn does (h2in.take_requests first, the library
for the rest). Events, errors (class and HTTP/2 error code), what each connection sends (GOAWAY included) and
the streams' states must be identical, for well-formed traffic and for each abuse the library refuses."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.errors
import h2.exceptions
import h2.settings
import pytest
from h2.connection import ConnectionState
from h2.stream import StreamState
from hyperframe.frame import ContinuationFrame, HeadersFrame
from rivetr_proxy_builtin.h2in import take_requests
from rivetr_proxy_builtin.hpack_memo import MemoDecoder

GET = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"https"), (b":authority", b"a.test")]
POST = [
    (b":method", b"POST"),
    (b":path", b"/up"),
    (b":scheme", b"https"),
    (b":authority", b"a.test"),
    (b"content-length", b"5"),
]


def server(max_streams: int = 100, max_list: int = 32768) -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(
        client_side=False,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
    )
    c = h2.connection.H2Connection(config=config)
    c.decoder = MemoDecoder()
    c.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams}
    )
    c.initiate_connection()
    c.decoder.max_header_list_size = max_list
    c.data_to_send()
    return c


def receive_library(c: h2.connection.H2Connection, data: bytes) -> list:
    return c.receive_data(data)


TAKEN: list[int] = []  # frames' bytes the fast path took, per call (-1: it raised)


def receive_fast(c: h2.connection.H2Connection, data: bytes) -> list:
    try:
        events, pos = take_requests(c, data)  # as H2Conn.data_received
    except h2.exceptions.ProtocolError:
        TAKEN.append(-1)  # refused by the fast path itself
        raise
    TAKEN.append(pos)
    if pos < len(data):
        events += c.receive_data(data[pos:])
    return events


def outcome(c: h2.connection.H2Connection, receive, chunk: bytes) -> tuple:
    try:
        events = [repr(e) for e in receive(c, chunk)]
        error = None
    except h2.exceptions.ProtocolError as e:
        events, error = [], (type(e).__name__, e.error_code)
    # Closed streams are forgotten lazily by both (the library when it counts streams, which h2in does only
    # near the limit): the streams that are not closed must match.
    states = sorted(
        (sid, m.state, m.client, m.headers_received, m.stream_closed_by, st._expected_content_length)
        for sid, st in c.streams.items()
        if (m := st.state_machine).state is not StreamState.CLOSED
    )
    return events, error, c.data_to_send(), states, c.highest_inbound_stream_id, c.state_machine.state


def check(chunks: list[bytes], **kw) -> list[tuple]:
    lib, fast = server(**kw), server(**kw)
    results = []
    for i, chunk in enumerate(chunks):
        a, b = outcome(lib, receive_library, chunk), outcome(fast, receive_fast, chunk)
        assert a == b, (i, a, b)
        results.append(a)
        if a[1] is not None:
            break
    return results


def client() -> h2.connection.H2Connection:
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    return c


def preface() -> tuple[h2.connection.H2Connection, bytes]:
    c = client()
    return c, c.data_to_send()


def raw_headers(c: h2.connection.H2Connection, sid: int, headers, flags: set[str]) -> bytes:
    f = HeadersFrame(sid)
    f.data = c.encoder.encode(headers)
    for flag in flags:
        f.flags.add(flag)
    return f.serialize()


def test_requests_in_batches_and_a_body_after_them():
    TAKEN.clear()
    c, first = preface()
    c.send_headers(1, GET, end_stream=True)
    batch1 = c.data_to_send()
    for sid in (3, 5, 7):
        c.send_headers(sid, GET, end_stream=True)
    c.send_headers(9, POST)
    c.send_data(9, b"hello", end_stream=True)
    batch2 = c.data_to_send()
    results = check([first, batch1, batch2])
    assert all(r[1] is None for r in results)
    assert sum(e.startswith("<RequestReceived") for e in results[2][0]) == 4
    assert any(e.startswith("<DataReceived") for e in results[2][0])
    # The preface and the first request open the connection through the library; then the fast path runs.
    assert TAKEN[:2] == [0, 0] and 0 < TAKEN[2] < len(batch2)


def test_a_frame_cut_between_reads_and_frames_the_fast_path_leaves_to_the_library():
    c, first = preface()
    for sid in (1, 3):
        c.send_headers(sid, GET, end_stream=True)
    data = c.data_to_send()
    check([first, data[:5], data[5:14], data[14:]])  # a partial header, a partial block, the rest
    c2, first2 = preface()
    priority = raw_headers(c2, 1, GET, {"END_HEADERS", "END_STREAM", "PRIORITY"})  # PRIORITY flag
    check([first2, priority[:9] + b"\x00\x00\x00\x00\x10" + priority[14:]])
    c3, first3 = preface()
    block = c3.encoder.encode(GET)
    h = HeadersFrame(1)
    h.data = block[:3]
    h.flags.add("END_STREAM")
    cont = ContinuationFrame(1)
    cont.data = block[3:]
    cont.flags.add("END_HEADERS")
    check([first3, h.serialize() + cont.serialize()])  # a block split into CONTINUATION frames


@pytest.mark.parametrize(
    "case",
    [
        "too_many_streams",
        "oversized_frame",
        "oversized_list",
        "bad_hpack",
        "even_stream",
        "lower_stream",
        "reused_stream",
        "body_too_long",
    ],
)
def test_abuse_gets_the_librarys_answer_and_goaway(case):
    c, first = preface()
    c.send_headers(1, GET)  # opens the connection (through the library) and stays open: one stream in use
    opening = c.data_to_send()
    kw = {}
    if case == "too_many_streams":
        kw["max_streams"] = 3
        for sid in (3, 5, 7):
            c.send_headers(sid, GET)
        chunk = c.data_to_send()
    elif case == "oversized_frame":  # beyond SETTINGS_MAX_FRAME_SIZE (16 KiB): FRAME_SIZE_ERROR
        kw["max_list"] = 100000
        chunk = raw_headers(c, 3, [*GET, (b"x-big", bytes(range(256)) * 80)], {"END_HEADERS", "END_STREAM"})
        assert len(chunk) > 16384 + 9
    elif case == "oversized_list":
        kw["max_list"] = 200
        chunk = raw_headers(c, 3, [*GET, (b"x-big", b"b" * 300)], {"END_HEADERS", "END_STREAM"})
    elif case == "bad_hpack":
        f = HeadersFrame(3)
        f.data = b"\xff\xff\xff\xff\xff\xff"  # an index past any table
        f.flags.add("END_HEADERS")
        f.flags.add("END_STREAM")
        chunk = f.serialize()
    elif case == "even_stream":
        chunk = raw_headers(c, 4, GET, {"END_HEADERS", "END_STREAM"})
    elif case in ("lower_stream", "reused_stream"):
        chunk = raw_headers(c, 7, GET, {"END_HEADERS", "END_STREAM"})
        chunk += raw_headers(c, 5 if case == "lower_stream" else 7, GET, {"END_HEADERS", "END_STREAM"})
    else:
        c.send_headers(3, POST)
        c.send_data(3, b"too long here", end_stream=True)
        chunk = c.data_to_send()
    TAKEN.clear()
    results = check([first, opening, chunk], **kw)
    assert results[1][1] is None and results[1][5] is ConnectionState.SERVER_OPEN
    if case == "reused_stream":
        # HEADERS again on a half-closed stream: a stream error (RST_STREAM STREAM_CLOSED), the connection goes on
        assert results[-1][1] is None and results[-1][2]
    else:
        assert results[-1][1] is not None  # the library refused it, and so did the fast path, the same way
        assert results[-1][2]  # with a GOAWAY
    if case not in ("even_stream", "oversized_frame"):  # left to the library at once
        assert TAKEN[2] != 0  # the fast path took frames of the chunk, or refused it itself


def test_closed_streams_do_not_count_against_the_limit():
    """Streams answered and closed make room for new ones at the limit, for both; one more is refused by both."""
    c, first = preface()
    lib, fast = server(max_streams=2), server(max_streams=2)
    for conn, receive in ((lib, receive_library), (fast, receive_fast)):
        outcome(conn, receive, first)
    for batch in ((1, 3), (5, 7), (9, 11)):
        for sid in batch:
            c.send_headers(sid, GET, end_stream=True)
        chunk = c.data_to_send()
        a, b = outcome(lib, receive_library, chunk), outcome(fast, receive_fast, chunk)
        assert a == b and a[1] is None
        for conn in (lib, fast):
            for sid in batch:
                conn.send_headers(sid, [(b":status", b"204")], end_stream=True)  # answered: closed
            conn.data_to_send()
    c.send_headers(13, GET)
    c.send_headers(15, GET)
    c.send_headers(17, GET)
    chunk = c.data_to_send()
    a, b = outcome(lib, receive_library, chunk), outcome(fast, receive_fast, chunk)
    assert a == b and a[1] is not None  # the third open stream: refused by both
    assert len(fast.streams) <= 3


def priority_headers(
    c: h2.connection.H2Connection, sid: int, depends_on: int, weight: int, exclusive: bool
) -> bytes:
    f = HeadersFrame(sid)
    f.data = c.encoder.encode(GET)
    for flag in ("END_HEADERS", "END_STREAM", "PRIORITY"):
        f.flags.add(flag)
    f.depends_on, f.stream_weight, f.exclusive = depends_on, weight, exclusive
    return f.serialize()


def test_headers_with_priority_as_browsers_send_them():
    c, first = preface()
    c.send_headers(1, GET, end_stream=True)
    opening = c.data_to_send()
    chunk = priority_headers(c, 3, 0, 255, True) + priority_headers(c, 5, 3, 15, False)
    TAKEN.clear()
    results = check([first, opening, chunk])
    assert TAKEN[2] == len(chunk)  # the fast path took both
    events = results[2][0]
    assert [e.split()[0] for e in events] == [
        "<RequestReceived",
        "<StreamEnded",
        "<PriorityUpdated",
        "<RequestReceived",
        "<StreamEnded",
        "<PriorityUpdated",
    ]
    assert events[5] == "<PriorityUpdated stream_id:5, weight:16, depends_on:3, exclusive:False>"


def test_priority_details_match_the_librarys():
    c, first = preface()
    c.send_headers(1, GET, end_stream=True)
    opening = c.data_to_send()
    chunk = priority_headers(c, 3, 1, 7, True)
    lib, fast = server(), server()
    receive_library(lib, first + opening)
    receive_fast(fast, first + opening)
    a, b = receive_library(lib, chunk), receive_fast(fast, chunk)
    pa, pb = a[0].priority_updated, b[0].priority_updated
    assert (pa.stream_id, pa.depends_on, pa.weight, pa.exclusive) == (
        pb.stream_id,
        pb.depends_on,
        pb.weight,
        pb.exclusive,
    )
    assert (pb.depends_on, pb.weight, pb.exclusive) == (1, 8, True)


def test_a_stream_depending_on_itself_ends_the_connection_as_in_the_library():
    c, first = preface()
    c.send_headers(1, GET, end_stream=True)
    opening = c.data_to_send()
    TAKEN.clear()
    results = check([first, opening, priority_headers(c, 3, 3, 15, False)])
    assert results[-1][1] is not None and results[-1][2]  # an error and a GOAWAY, from both
    assert TAKEN[2] == -1  # raised by the fast path itself
