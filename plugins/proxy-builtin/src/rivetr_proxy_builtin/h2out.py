"""Response HEADERS and DATA frames for :mod:`.h2conn`, written straight into the h2 connection's output.

The ``h2`` library builds a frame object, a flags set and a stream-state-machine pass (with its event objects)
for every frame it sends, then serialises the objects again: for a small proxied response (one HEADERS and one
DATA frame) that was about a third of a worker's CPU per request. A response from a server stream only ever
takes the few transitions below, so these functions make them themselves and append the serialised frames to
the connection's output buffer (``_data_to_send``, which ``data_to_send()`` hands out), keeping the library's
state exactly as its own ``send_headers``/``send_data`` would leave it:

- the stream's state (OPEN stays OPEN, or becomes HALF_CLOSED_LOCAL with END_STREAM; HALF_CLOSED_REMOTE stays,
  or becomes CLOSED "by SEND_END_STREAM", which the library's stream bookkeeping reads later);
- ``headers_sent`` of the stream (so a later header block is taken as trailers);
- the stream's and the connection's outbound flow-control windows.

Anything else (informational responses, trailers, a stream or connection in another state, more data than the
windows allow) returns False and the caller goes through the library, which raises the errors it always did.
Frames are sent in the order they are made, interleaved correctly with the library's own (WINDOW_UPDATE,
RST_STREAM, SETTINGS acks all go to the same buffer).

Checked against the library frame by frame (tests/test_http2_fast_out.py).
"""

from __future__ import annotations

from struct import Struct
from typing import Any

from h2.connection import ConnectionState
from h2.stream import StreamClosedBy, StreamState

# The 9-byte frame header: 24-bit length (as a byte and a short), type, flags, stream id (RFC 9113 §4.1).
_FRAME = Struct(">BHBBL")
_DATA, _HEADERS, _CONTINUATION = 0x0, 0x1, 0x9
_END_STREAM, _END_HEADERS = 0x1, 0x4
# Frames are cut at the size every peer accepts (RFC 9113 §4.2), as before: a peer allowing bigger ones gains
# little, and smaller frames let the streams of a connection interleave.
_MAX_FRAME = 16384

_OPEN = StreamState.OPEN
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_HALF_CLOSED_LOCAL = StreamState.HALF_CLOSED_LOCAL
_CLOSED = StreamState.CLOSED
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_BY_SEND_END = StreamClosedBy.SEND_END_STREAM


def _sendable(h2c: Any, sid: int) -> Any:
    """The library's stream object if a response may be sent on it here, else None (the library decides)."""
    if h2c.state_machine.state is not _SERVER_OPEN:
        return None
    st = h2c.streams.get(sid)
    if st is None:
        return None
    state = st.state_machine.state
    if state is not _HALF_CLOSED_REMOTE and state is not _OPEN:
        return None
    return st


def _end(sm: Any) -> None:
    """The state change of sending END_STREAM (the library's SEND_END_STREAM transitions)."""
    if sm.state is _HALF_CLOSED_REMOTE:
        sm.state = _CLOSED
        sm.stream_closed_by = _BY_SEND_END
    else:
        sm.state = _HALF_CLOSED_LOCAL


def send_head(h2c: Any, sid: int, headers: list[tuple[bytes, bytes]], end: bool) -> bool:
    """The final response head (``:status`` >= 200, lower-case names, connection fields removed) as
    HEADERS (+ CONTINUATION) frames; END_STREAM when ``end``. False: nothing done, use the library."""
    st = _sendable(h2c, sid)
    if st is None:
        return False
    sm = st.state_machine
    if sm.headers_sent or sm.client is not False:
        return False  # trailers, or not a server stream that received a request: the library's rules
    block = h2c.encoder.encode(headers)
    sm.headers_sent = True
    size = _MAX_FRAME
    n = len(block)
    if n <= size:
        frame = _FRAME.pack(
            n >> 16, n & 0xFFFF, _HEADERS, _END_HEADERS | _END_STREAM if end else _END_HEADERS, sid
        )
        h2c._data_to_send += frame + block
    else:
        out = h2c._data_to_send
        for i in range(0, n, size):
            part = block[i : i + size]
            m = len(part)
            last = i + size >= n
            flags = (_END_HEADERS if last else 0) | (_END_STREAM if end and not i else 0)
            out += _FRAME.pack(m >> 16, m & 0xFFFF, _CONTINUATION if i else _HEADERS, flags, sid)
            out += part
    if end:
        _end(sm)
    return True


def window(h2c: Any, sid: int) -> int:
    """What may be sent on the stream now (the library's ``local_flow_control_window``); -1: ask the library."""
    st = h2c.streams.get(sid)
    if st is None:
        return -1
    w = h2c.outbound_flow_control_window
    sw = st.outbound_flow_control_window
    return sw if sw < w else w


def send_data(h2c: Any, sid: int, data: bytes, end: bool) -> bool:
    """``data`` as DATA frames of at most the peer's frame size, the last with END_STREAM when ``end`` (empty
    ``data`` with ``end``: one empty DATA frame). False: nothing done (the windows or the state don't allow it
    here), use the library."""
    st = _sendable(h2c, sid)
    if st is None:
        return False
    sm = st.state_machine
    if not sm.headers_sent:
        return False
    n = len(data)
    if n > st.outbound_flow_control_window or n > h2c.outbound_flow_control_window:
        return False
    size = _MAX_FRAME
    if n <= size:
        h2c._data_to_send += _FRAME.pack(n >> 16, n & 0xFFFF, _DATA, _END_STREAM if end else 0, sid) + data
    else:
        out = h2c._data_to_send
        for i in range(0, n, size):
            part = data[i : i + size]
            m = len(part)
            out += _FRAME.pack(m >> 16, m & 0xFFFF, _DATA, _END_STREAM if end and i + size >= n else 0, sid)
            out += part
    st.outbound_flow_control_window -= n
    h2c.outbound_flow_control_window -= n
    if end:
        _end(sm)
    return True


def send_whole(h2c: Any, sid: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """The most common response, a final head and its whole body: ``send_head(h2c, sid, headers, False)`` then
    ``send_data(h2c, sid, body, True)`` in one step, when ``body`` fits one frame and both windows (the bytes and
    the state are theirs). False: nothing done (checked before the head is coded, which changes HPACK state)."""
    st = _sendable(h2c, sid)
    if st is None:
        return False
    sm = st.state_machine
    n = len(body)
    if (
        sm.headers_sent
        or sm.client is not False
        or n > _MAX_FRAME
        or n > st.outbound_flow_control_window
        or n > h2c.outbound_flow_control_window
    ):
        return False
    send_head(h2c, sid, headers, False)  # the same checks passed: it sends
    h2c._data_to_send += _FRAME.pack(n >> 16, n & 0xFFFF, _DATA, _END_STREAM, sid) + body
    st.outbound_flow_control_window -= n
    h2c.outbound_flow_control_window -= n
    _end(sm)
    return True
