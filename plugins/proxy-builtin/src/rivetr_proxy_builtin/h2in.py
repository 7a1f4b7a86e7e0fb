"""Request HEADERS frames taken off the wire for :mod:`.h2conn` without the h2 library's frame objects.

For every frame it receives, the ``h2`` library copies the bytes into a buffer, builds a hyperframe object with
its flag set, formats the frame's ``repr`` for a trace log and dispatches on the class; for a small request
(one HEADERS frame with END_STREAM) that framing was a quarter of the worker's receive work. The common frame
of a request, a HEADERS frame that opens a new stream, is simple to recognise in the raw bytes: this module
reads the 9-byte frame header itself and, for such a frame only, runs the same library steps the library's own
``_receive_headers_frame`` runs after framing, in the same order: the concurrent-streams check, HPACK decoding
through the connection's decoder (with its header list bound), the new stream (``_begin_new_stream``) and what
the stream's ``receive_headers`` does to a request when inbound header processing is off (as in H2Conn, which
checks the fields itself): the stream's state and flags, its expected content length, the same two events. Errors are the library's own and
end the connection as its ``receive_data`` does (GOAWAY queued, exception raised).

Everything else (the connection preface, SETTINGS, DATA, WINDOW_UPDATE, RST_STREAM, PING, GOAWAY, a HEADERS
frame with PADDED, one split into CONTINUATION frames, one for an existing or lower stream, a
frame larger than allowed, a partial frame) goes to the library from the first such frame on, with all the
bytes after it.

Checked against the library (tests/test_http2_fast_in.py).
"""

from __future__ import annotations

from typing import Any

from h2.connection import AllowedStreamIDs, ConnectionState, _decode_headers
from h2.events import PriorityUpdated, RequestReceived, StreamEnded
from h2.exceptions import ProtocolError, TooManyStreamsError
from h2.stream import StreamState
from h2.utilities import is_informational_response

_HEADERS = 0x1
_END_STREAM, _END_HEADERS, _PRIORITY = 0x1, 0x4, 0x20
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_ODD = AllowedStreamIDs.ODD
_OPEN, _HALF_CLOSED_REMOTE = StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE


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
    max_streams = h2c.local_settings.max_concurrent_streams
    config = h2c.config
    plain = (
        not config.validate_inbound_headers
        and not config.normalize_inbound_headers
        and not config.header_encoding
    )
    while pos + 9 <= n:
        if data[pos + 3] != _HEADERS:
            break
        flags = data[pos + 4]
        if (
            flags & ~(_END_STREAM | _PRIORITY) != _END_HEADERS
        ):  # END_HEADERS (+ END_STREAM, PRIORITY), no padding
            break
        length = int.from_bytes(data[pos : pos + 3], "big")
        end = pos + 9 + length
        if end > n or length > max_size:
            break
        start = pos + 9
        if flags & _PRIORITY:  # browsers' HEADERS carry a dependency and a weight before the block
            if length < 5:
                break  # the library's "frame data missing"
            start += 5
        sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        if not sid & 1 or sid <= h2c.highest_inbound_stream_id:
            break  # an even, reused or lower stream id: the library's errors
        try:
            # Counting open streams walks them all (and forgets the closed ones): only when there may be too
            # many. The library counts at every new stream; closed ones wait in h2c.streams a little longer
            # here, at most max_concurrent_streams of them, as they wait there between two requests anyway.
            if len(h2c.streams) >= max_streams and h2c.open_inbound_streams + 1 > max_streams:
                msg = f"Max inbound streams is {max_streams}"
                raise TooManyStreamsError(msg)
            headers = _decode_headers(h2c.decoder, data[start:end])
            stream = h2c._begin_new_stream(sid, _ODD)
            ended = bool(flags & _END_STREAM)
            if plain and not is_informational_response(headers):
                # The stream's receive_headers for a request without inbound header processing (H2Conn checks
                # the fields itself): IDLE -> OPEN (-> HALF_CLOSED_REMOTE with END_STREAM), the same events.
                sm = stream.state_machine
                sm.client = False
                sm.headers_received = True
                ev = RequestReceived(stream_id=sid)
                ev.headers = headers  # type: ignore[assignment]  # a list (MemoDecoder, hpack)
                if ended:
                    sm.state = _HALF_CLOSED_REMOTE
                    ev.stream_ended = se = StreamEnded(stream_id=sid)
                    events += (ev, se)
                else:
                    sm.state = _OPEN
                    events.append(ev)
                stream._initialize_content_length(headers)
            else:
                stream_events = stream.receive_headers(headers, ended, None)[1]
                ev = stream_events[0]
                events += stream_events
            if flags & _PRIORITY:
                # The library's _receive_priority_frame, after the stream as there: a PriorityUpdated event,
                # also hung on the request's event; a stream depending on itself is a connection error.
                dep = int.from_bytes(data[pos + 9 : pos + 13], "big")
                pri = PriorityUpdated()
                pri.stream_id = sid
                pri.depends_on = dep & 0x7FFFFFFF
                pri.exclusive = bool(dep >> 31)
                pri.weight = data[pos + 13] + 1
                if pri.depends_on == sid:
                    msg = f"Stream {sid} may not depend on itself"
                    raise ProtocolError(msg)
                ev.priority_updated = pri
                events.append(pri)
        except ProtocolError as e:
            h2c._terminate_connection(e.error_code)  # as the library's receive_data: GOAWAY, then raise
            raise
        pos = end
    return events, pos
