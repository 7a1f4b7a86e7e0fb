"""Response compression (gzip, brotli, zstd) for the worker: negotiation, the per-response decision and the
streaming encoder.

Shape on the hot path: the client side keeps the request's ``Accept-Encoding`` in ``Exchange.accept`` only when
compression is on for the server and the route (``None`` otherwise, so an uncompressed exchange costs one
attribute test in :mod:`.upstream`). When the response head arrives, :func:`compress_whole` (a whole
Content-Length response in one read: compressed in one call, sent with a new Content-Length) or
:func:`start_stream` (everything else: a :class:`StreamEncoder` on the upstream connection, compressing each
upstream read and flushing it as one chunk, so server-sent events and long polls are not held back) decide from
the head and the client's preferences.

Not compressed: HTTP/1.0 clients when the body is streamed (no chunked encoding for them, as nginx's
``gzip_http_version 1.1``), responses with a Content-Encoding, ``Cache-Control: no-transform``, ranges (206 or a
Content-Range), types outside ``compression_types``, bodies under ``compression_min_size`` when their length is
known. Compressed responses get ``Vary: Accept-Encoding``, lose ``Accept-Ranges`` and have a strong ETag
weakened (``W/``), as nginx does. Trailers of a chunked upstream body are dropped when it is compressed.

brotli and zstandard are imported on the first request that would use them (the worker stays small when no
client asks); when one is missing the response falls back to gzip, if the client accepts it.
"""

from __future__ import annotations

import sys
import zlib
from typing import TYPE_CHECKING, Any

import httptools

if TYPE_CHECKING:
    import asyncio

    from .exchange import Exchange
    from .settings import ProxySettings
    from .upstream import UpstreamConn

#: Types compressed by default: text and the text-like application types (JSON, JavaScript, XML and their
#: ``+json``/``+xml`` kinds, SVG, WebAssembly, web manifests, source maps, uncompressed font formats).
DEFAULT_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "application/xhtml+xml",
    "application/wasm",
    "application/x-ndjson",
    "application/graphql-response+json",
    "application/vnd.ms-fontobject",
    "font/ttf",
    "font/otf",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
)

#: Server preference among encodings the client rates equally.
PREFERENCE = ("br", "zstd", "gzip")

_CACHE_LIMIT = 512  # distinct Accept-Encoding / Content-Type values remembered per worker

# Libraries by encoding name: a module once imported, None when it is not installed (tried once per worker).
_LIBS: dict[str, Any] = {}


def _library(name: str) -> Any:
    if name not in _LIBS:
        module = "brotli" if name == "br" else "zstandard"
        try:
            _LIBS[name] = __import__(module)
        except ImportError:
            _LIBS[name] = None
            print(
                f"rivetr-proxy: {module} is not installed: {name} responses fall back to gzip",
                file=sys.stderr,
                flush=True,
            )
    return _LIBS[name]


def parse_accept_encoding(value: bytes) -> dict[str, float]:
    """``b"gzip;q=0.8, br"`` → ``{"gzip": 0.8, "br": 1.0}`` (names lower-cased; a bad q counts as 0)."""
    rated: dict[str, float] = {}
    for part in value.decode("latin-1").split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(val.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        rated[name] = q
    return rated


def choose_encoding(value: bytes, available: tuple[str, ...] = PREFERENCE) -> str | None:
    """The encoding to answer with: the client's highest q among ``available`` (q > 0; ``*`` rates those it does
    not name), ties going to the earlier one in ``available``; None when it accepts none of them."""
    rated = parse_accept_encoding(value)
    star = rated.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for name in available:
        q = rated.get(name, star)
        if name == "gzip" and "gzip" not in rated and "x-gzip" in rated:
            q = rated["x-gzip"]
        if q > best_q:
            best, best_q = name, q
    return best


class CompressConfig:
    """``[proxy] compression*`` as one worker uses them, with caches of its decisions."""

    __slots__ = ("exact", "level", "min_size", "negotiated", "prefixes", "suffixes", "typed")

    def __init__(self, level: int, min_size: int, types: list[str] | tuple[str, ...]) -> None:
        self.level = level
        self.min_size = min_size
        self.exact: set[bytes] = set()
        self.prefixes: list[bytes] = []  # "text/*" → b"text/"
        self.suffixes: list[tuple[bytes, bytes]] = []  # "application/*+json" → (b"application/", b"+json")
        for t in types:
            low = t.strip().lower().encode()
            if low.endswith(b"/*"):
                self.prefixes.append(low[:-1])
            elif b"/*" in low:
                major, _, suffix = low.partition(b"*")
                self.suffixes.append((major, suffix))
            elif low:
                self.exact.add(low)
        self.negotiated: dict[bytes, str | None] = {}
        self.typed: dict[bytes, bool] = {}

    def encoding_for(self, accept: bytes) -> str | None:
        enc = self.negotiated.get(accept, "")
        if enc == "":
            enc = choose_encoding(accept)
            if enc is not None and enc != "gzip" and _library(enc) is None:
                # Not installed: the client's next choice among what is.
                enc = choose_encoding(accept, tuple(e for e in PREFERENCE if e == "gzip" or _LIBS.get(e)))
            if len(self.negotiated) >= _CACHE_LIMIT:
                self.negotiated.clear()
            self.negotiated[accept] = enc
        return enc

    def compressible(self, content_type: bytes) -> bool:
        ok = self.typed.get(content_type)
        if ok is None:
            mime = content_type.partition(b";")[0].strip()
            ok = (
                mime in self.exact
                or any(mime.startswith(p) for p in self.prefixes)
                or any(mime.startswith(m) and mime.endswith(s) for m, s in self.suffixes)
            )
            if len(self.typed) >= _CACHE_LIMIT:
                self.typed.clear()
            self.typed[content_type] = ok
        return ok


def config_from(settings: ProxySettings) -> CompressConfig | None:
    """The worker's compression settings, or None when ``[proxy] compression`` is off."""
    if not getattr(settings, "compression", True):
        return None
    return CompressConfig(
        int(getattr(settings, "compression_level", 5)),
        int(getattr(settings, "compression_min_size", 1024)),
        list(getattr(settings, "compression_types", None) or DEFAULT_TYPES),
    )


# ----------------------------------------------------------------------------------------------- decision
def _field(low: bytes, name: bytes) -> bytes | None:
    """The value of the first ``name`` field in a lower-cased head (``name`` is ``b"\\r\\nfield:"``)."""
    i = low.find(name)
    if i < 0:
        return None
    start = i + len(name)
    return low[start : low.find(b"\r\n", start)].strip()


def _decide(ex: Exchange, low: bytes, status: int, cfg: CompressConfig) -> str | None:
    """The encoding for this response, or None to pass it through as it is."""
    if status == 206 or b"\r\ncontent-range:" in low:
        return None
    if b"\r\ncontent-encoding:" in low and _field(low, b"\r\ncontent-encoding:") != b"identity":
        return None
    cache_control = _field(low, b"\r\ncache-control:")
    if cache_control is not None and b"no-transform" in cache_control:
        return None
    content_type = _field(low, b"\r\ncontent-type:")
    if not content_type or not cfg.compressible(content_type):
        return None
    return cfg.encoding_for(ex.accept)  # type: ignore[arg-type]


def _compressed_head(head: bytes, low: bytes, encoding: str, length: int | None) -> bytes:
    """``head`` (a rewritten response head, CRLF line ends) for a body compressed with ``encoding``: a new
    Content-Length (``length``) or chunked, Content-Encoding, Vary, a weak ETag, no Accept-Ranges."""
    lines = head[:-4].split(b"\r\n")
    lows = low[:-4].split(b"\r\n")
    out = [lines[0]]
    vary_done = False
    chunked = False
    for line, lline in zip(lines[1:], lows[1:], strict=False):
        name = lline.partition(b":")[0].strip()
        if name == b"content-length" or name == b"accept-ranges" or name == b"content-encoding":
            continue
        if name == b"transfer-encoding":
            chunked = True
            if length is not None:
                continue
        elif name == b"vary":
            value = lline.partition(b":")[2]
            if b"accept-encoding" not in value and b"*" not in value:
                line += b", Accept-Encoding"
            vary_done = True
        elif name == b"etag":
            value = line.partition(b":")[2].strip()
            if not value.startswith(b"W/"):
                line = b"ETag: W/" + value
        out.append(line)
    if length is not None:
        out.append(b"Content-Length: %d" % length)
    elif not chunked:
        out.append(b"Transfer-Encoding: chunked")
    out.append(b"Content-Encoding: " + encoding.encode())
    if not vary_done:
        out.append(b"Vary: Accept-Encoding")
    return b"\r\n".join(out) + b"\r\n\r\n"


# ------------------------------------------------------------------------------------------------ encoders
def _compress_all(encoding: str, data: bytes, level: int) -> bytes:
    if encoding == "br":
        return _library("br").compress(data, quality=min(level, 11), lgwin=_BR_LGWIN)  # type: ignore[no-any-return]
    if encoding == "zstd":
        return _library("zstd").ZstdCompressor(level=min(level, 19)).compress(data)  # type: ignore[no-any-return]
    return zlib.compress(data, level, 31)


_BR_LGWIN = 18  # a 256 KB window: brotli's default (4 MB) costs that much memory per open stream


def _stream_compressor(encoding: str, level: int) -> tuple[Any, Any, Any]:
    """(compress(data), flush(), finish()) of a streaming compressor for ``encoding``."""
    if encoding == "br":
        c = _library("br").Compressor(quality=min(level, 11), lgwin=_BR_LGWIN)
        return c.process, c.flush, c.finish
    if encoding == "zstd":
        zstd = _library("zstd")
        z = zstd.ZstdCompressor(level=min(level, 19)).compressobj()
        block = zstd.COMPRESSOBJ_FLUSH_BLOCK
        return z.compress, lambda: z.flush(block), z.flush
    g = zlib.compressobj(level, zlib.DEFLATED, 31)
    return g.compress, lambda: g.flush(zlib.Z_SYNC_FLUSH), g.flush


def compress_whole(ex: Exchange, head: bytes, data: bytes, end: int, status: int) -> tuple[bytes, bytes, int]:
    """A whole Content-Length response (``data``, its body from ``end``) with ``head`` already rewritten:
    ``(head, data, end)`` unchanged, or the compressed response's head, body and 0."""
    cfg = ex.client.w.compress
    if cfg is None or len(data) - end < cfg.min_size:
        return head, data, end
    low = head.lower()
    encoding = _decide(ex, low, status, cfg)
    if encoding is None:
        return head, data, end
    body = _compress_all(encoding, data[end:], cfg.level)
    return _compressed_head(head, low, encoding, len(body)), body, 0


def start_stream(up: UpstreamConn, ex: Exchange, head: bytes, status: int) -> bytes | None:
    """Decide for a streamed response (parser path): when it is compressed, set ``up.enc`` to its encoder and
    return the head to send; None leaves the response as it is."""
    cfg = ex.client.w.compress
    if cfg is None or ex.http10:
        return None
    low = head.lower()
    length = _field(low, b"\r\ncontent-length:")
    chunked = b"\r\ntransfer-encoding:" in low
    if length is not None and not chunked and (not length.isdigit() or int(length) < max(cfg.min_size, 1)):
        return None
    encoding = _decide(ex, low, status, cfg)
    if encoding is None:
        return None
    size = None if chunked or length is None else int(length)
    up.enc = StreamEncoder(up, encoding, cfg.level, chunked, size)
    head = _compressed_head(head, low, encoding, None)
    if ex.log is not None:  # the access log counts bytes sent
        ex.sent += len(head)
    return head


class StreamEncoder:
    """Compresses one response body as it streams from the upstream to the client, chunked.

    ``feed`` takes raw body bytes as they come off the upstream socket (still in the upstream's framing); a
    Content-Length body is counted down, a chunked one de-chunked by its own httptools parser (``on_body``), a
    close-delimited one ends with :meth:`finish` at EOF. Every ``feed`` ends with a flush, so what the app sent
    is on its way to the client before the next read.
    """

    __slots__ = ("_compress", "_finish", "_flush", "done", "left", "out", "parser", "t", "up")

    def __init__(
        self, up: UpstreamConn, encoding: str, level: int, chunked: bool, length: int | None
    ) -> None:
        self.up = up
        self.t: asyncio.Transport = up.ex.client.t  # type: ignore[union-attr,assignment]
        self._compress, self._flush, self._finish = _stream_compressor(encoding, level)
        self.out: list[bytes] = []
        self.left = length  # bytes of a Content-Length body still to come
        self.done = False
        self.parser: Any = None
        if chunked:
            self.parser = httptools.HttpResponseParser(self)
            self.parser.feed_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")

    # httptools callbacks of the de-chunking parser
    def on_body(self, body: bytes) -> None:
        piece = self._compress(body)
        if piece:
            self.out.append(piece)

    def on_message_complete(self) -> None:
        self.done = True

    def feed(self, data: bytes) -> None:
        if self.done or not data:
            return
        if self.parser is not None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:  # the main parser saw the same bytes: it ends the exchange
                self.done = True
                self.up.enc = None
                return
        elif self.left is not None:
            if len(data) >= self.left:
                data = data[: self.left]
                self.done = True
            self.left -= len(data)
            self.on_body(data)
        else:
            self.on_body(data)
        if self.done:
            self._end()
            return
        self.out.append(self._flush())
        self._write()

    def finish(self) -> None:
        """EOF of a close-delimited body: the last compressed bytes and the end of the chunked body."""
        if not self.done:
            self.done = True
            self._end()

    def _end(self) -> None:
        self.out.append(self._finish())
        self._write(b"0\r\n\r\n")
        self.up.enc = None

    def _write(self, tail: bytes = b"") -> None:
        data = b"".join(self.out)
        self.out.clear()
        ex = self.up.ex
        if ex is not None and ex.log is not None:  # the access log counts bytes sent
            ex.sent += len(data) + len(tail) + (len(b"%x\r\n\r\n" % len(data)) if data else 0)
        if data:
            self.t.writelines((b"%x\r\n" % len(data), data, b"\r\n", tail))
        elif tail:
            self.t.write(tail)
