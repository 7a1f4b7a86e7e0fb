"""HTTP/1.1 constants and the proxy's own small responses (error pages, ACME answers, redirects)."""

from __future__ import annotations

REASONS = {
    301: b"Moved Permanently",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}

# Connection tokens that name no header field (anything else in Connection names a hop-by-hop field).
CONN_PLAIN = frozenset({b"close", b"keep-alive", b"upgrade", b""})

_DETAILS = {
    400: b"The request could not be understood.",
    404: b"No application is configured for this host.",
    405: b"This method is not supported by the proxy.",
    408: b"The request took too long to arrive.",
    413: b"The request body is larger than allowed.",
    431: b"The request headers are larger than allowed.",
    500: b"The proxy failed to handle the request.",
    502: b"The application did not answer properly.",
    503: b"No healthy instance of the application is available.",
    504: b"The application took too long to answer.",
}


def _page(status: int) -> bytes:
    title = b"%d %s" % (status, REASONS[status])
    return (
        b"<!doctype html><html><head><meta charset=utf-8><title>" + title + b"</title></head><body>"
        b"<h1>" + title + b"</h1><p>" + _DETAILS[status] + b"</p><hr><small>rivetr</small></body></html>\n"
    )


def _response(status: int, close: bool) -> bytes:
    body = _page(status)
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Cache-Control: no-store\r\n%s\r\n"
        % (status, REASONS[status], len(body), b"Connection: close\r\n" if close else b"")
    ) + body


#: Pre-built error responses: ERRORS[status][close] (close: the proxy closes the connection after it).
ERRORS: dict[int, tuple[bytes, bytes]] = {s: (_response(s, False), _response(s, True)) for s in _DETAILS}


def error_response(status: int, close: bool) -> bytes:
    return ERRORS[status][1 if close else 0]


def plain_response(status: int, reason: bytes, body: bytes, close: bool) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
        b"Cache-Control: no-store\r\n%s\r\n"
        % (status, reason, len(body), b"Connection: close\r\n" if close else b"")
    ) + body


def redirect_response(location: bytes, close: bool) -> bytes:
    return b"HTTP/1.1 301 Moved Permanently\r\nLocation: %s\r\nContent-Length: 0\r\n%s\r\n" % (
        location,
        b"Connection: close\r\n" if close else b"",
    )
