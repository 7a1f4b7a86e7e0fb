"""The link test app: an HTTP server on $PORT that talks to the services it is linked to.

It uses only what a link hands it: ``<LINK>_URL`` (``postgres://``, ``mysql://``/``mariadb://`` or
``redis://``), where ``?link=`` picks the prefix (``DATABASE`` when absent).

* ``GET /`` -> 200 ``ok``
* ``GET /env`` -> JSON list of the names of the link variables it got (``*_URL``, ``*_HOST``...), never values
* ``GET /write?v=X&link=P`` -> stores X (a row of table ``rivetr_kv``, or key ``rivetr:kv``), answers ``X``
* ``GET /read?link=P`` -> the value stored last
* ``GET /query?link=P`` -> ``{"ms": ...}``: a new connection and one trivial query, timed in the app (what a
  linked app pays for its first query; the bench compares it with a container set up by hand)
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

KEY = "rivetr:kv"
LINK_SUFFIXES = ("_URL", "_HOST", "_PORT", "_USER", "_PASSWORD", "_DATABASE")


def _url(link: str) -> str:
    value = os.environ.get(f"{link}_URL")
    if not value:
        raise LookupError(f"{link}_URL is not set")
    return value


def _sql(url: str):
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        import psycopg2

        return psycopg2.connect(url, connect_timeout=10), "postgres"
    if parts.scheme in ("mysql", "mariadb"):
        import pymysql

        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or None,
            connect_timeout=10,
            autocommit=True,
        )
        return conn, "mysql"
    raise LookupError(f"unsupported URL scheme {parts.scheme!r}")


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=10)


def write(link: str, value: str) -> None:
    url = _url(link)
    if url.startswith("redis"):
        _redis(url).set(KEY, value)
        return
    conn, kind = _sql(url)
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS rivetr_kv (k VARCHAR(64) PRIMARY KEY, v TEXT)")
        if kind == "postgres":
            cur.execute(
                "INSERT INTO rivetr_kv (k, v) VALUES ('kv', %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                (value,),
            )
        else:
            cur.execute("REPLACE INTO rivetr_kv (k, v) VALUES ('kv', %s)", (value,))
        conn.commit()
    finally:
        conn.close()


def read(link: str) -> str:
    url = _url(link)
    if url.startswith("redis"):
        got = _redis(url).get(KEY)
        return got.decode() if got is not None else ""
    conn, _ = _sql(url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT v FROM rivetr_kv WHERE k = 'kv'")
        row = cur.fetchone()
        return row[0] if row else ""
    finally:
        conn.close()


def query(link: str) -> float:
    url = _url(link)
    started = time.perf_counter()
    if url.startswith("redis"):
        client = _redis(url)
        client.ping()
        client.close()
    else:
        conn, _ = _sql(url)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        conn.close()
    return (time.perf_counter() - started) * 1000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        args = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        link = args.get("link", "DATABASE")
        try:
            if parts.path == "/":
                self._send(200, "ok")
            elif parts.path == "/env":
                names = sorted(k for k in os.environ if k.endswith(LINK_SUFFIXES))
                self._send(200, json.dumps(names), "application/json")
            elif parts.path == "/write":
                write(link, args.get("v", ""))
                self._send(200, args.get("v", ""))
            elif parts.path == "/read":
                self._send(200, read(link))
            elif parts.path == "/query":
                self._send(200, json.dumps({"ms": query(link)}), "application/json")
            else:
                self._send(404, "not found")
        except Exception as exc:  # the test wants the reason in the body, not a dropped connection
            self._send(500, f"{type(exc).__name__}: {exc}")

    def _send(self, status: int, body: str, ctype: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
