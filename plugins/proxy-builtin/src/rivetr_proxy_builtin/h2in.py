"""Request HEADERS frames taken off the wire for :mod:`.h2conn` without the h2 library's frame objects.

For every frame it receives, the ``h2`` library copies the bytes into a buffer, builds a hyperframe object with
its flag set, formats the frame's ``repr`` for a trace log and dispatches on the class; for a small request
(one HEADERS frame with END_STREAM) that framing was a quarter of the worker's receive work. The common frame
of a request, a HEADERS frame that opens a new stream, is simple to recognise in the raw bytes: this module
reads the 9-byte frame header itself and, for such a frame only, runs the same library steps the library's own
``_receive_headers_frame`` runs after framing, in the same order: the concurrent-streams check, HPACK decoding
through the connection's decoder (with its header list bound), the new stream (``_begin_new_stream``) and the
stream's ``receive_headers`` (state machine, content length, the events). Errors are the library's own and
end the connection as its ``receive_data`` does (GOAWAY queued, exception raised).

Everything else (the connection preface, SETTINGS, DATA, WINDOW_UPDATE, RST_STREAM, PING, GOAWAY, a HEADERS
frame with PADDED or PRIORITY, one split into CONTINUATION frames, one for an existing or lower stream, a
frame larger than allowed, a partial frame) goes to the library from the first such frame on, with all the
bytes after it.

Checked against the library (tests/test_http2_fast_in.py).
"""

from __future__ import annotations

from typing import Any

from h2.connection import AllowedStreamIDs, ConnectionState, _decode_headers
from h2.exceptions import ProtocolError, TooManyStreamsError

_HEADERS = 0x1
_END_STREAM, _END_HEADERS = 0x1, 0x4
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_ODD = AllowedStreamIDs.ODD


def take_requests(h2c: Any, data: bytes) -> tuple[list[Any], int]:
    """The events of the request HEADERS frames at the start of ``data`` (handled here) and the offset of the
    first byte the library must receive (``len(data)`` when every frame was one of them)."""
    buf = h2c.incoming_buffer
    # Only on a frame boundary with nothing pending in the library: its buffer empty, the preface read, no
    # header block waiting for CONTINUATION frames, the connection open (not after a GOAWAY either way).
    if buf._data or buf._preamble_len or buf._headers_buffer or h2c.state_machine.state is not _SERVER_OPEN:
        return [], 0
    events: list[Any] = []
    n = len(data)
    pos = 0
    max_size = h2c.max_inbound_frame_size
    while pos + 9 <= n:
        if data[pos + 3] != _HEADERS:
            break
        flags = data[pos + 4]
        if flags & ~_END_STREAM != _END_HEADERS:  # exactly END_HEADERS (+ END_STREAM): no padding, priority
            break
        length = int.from_bytes(data[pos : pos + 3], "big")
        end = pos + 9 + length
        if end > n or length > max_size:
            break
        sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        if not sid & 1 or sid <= h2c.highest_inbound_stream_id:
            break  # an even, reused or lower stream id: the library's errors
        try:
            if h2c.open_inbound_streams + 1 > h2c.local_settings.max_concurrent_streams:
                msg = f"Max inbound streams is {h2c.local_settings.max_concurrent_streams}"
                raise TooManyStreamsError(msg)
            headers = _decode_headers(h2c.decoder, data[pos + 9 : end])
            stream = h2c._begin_new_stream(sid, _ODD)
            _, stream_events = stream.receive_headers(headers, bool(flags & _END_STREAM), None)
        except ProtocolError as e:
            h2c._terminate_connection(e.error_code)  # as the library's receive_data: GOAWAY, then raise
            raise
        events += stream_events
        pos = end
    return events, pos
