"""gRPC through the proxy with the real gRPC library on both ends (issue 22): a grpcio server on plain HTTP/2
(h2c, as gRPC servers listen by default) behind a route with ``upstream_protocol = "h2c"``, and a grpcio client
over TLS to the proxy's HTTPS port, trusting the route's certificate.

Unary calls with metadata and trailing metadata, a status error (trailers-only answer), a bidirectional stream
message by message, a message larger than every flow-control window, and a cancelled call that the server sees
cancelled. The frame-level cases (resets, 502, 505) are in test_h2c_upstream.py."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.certs import self_signed
from tests.support.proxy import SyncProxy

grpc = pytest.importorskip("grpc")

HOST = "grpc.test"


class EchoService:
    """``t.Echo`` with raw bytes messages (no protobuf needed): Unary reverses, Meta answers the metadata it got
    as JSON, Chat echoes each message, Fail aborts NOT_FOUND, Wait blocks until the call is cancelled."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.cancelled = threading.Event()

    def unary(self, request: bytes, context: Any) -> bytes:
        context.set_trailing_metadata((("x-done", "yes"),))
        return request[::-1]

    def meta(self, request: bytes, context: Any) -> bytes:
        return json.dumps(dict(context.invocation_metadata())).encode()

    def chat(self, requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for m in requests:
            yield b"echo:" + m

    def fail(self, request: bytes, context: Any) -> bytes:
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        return b""

    def wait(self, request: bytes, context: Any) -> bytes:
        context.add_callback(self.cancelled.set)  # runs when the call ends: here, by the client's cancel
        self.waiting.set()
        self.cancelled.wait(30)
        return b""

    def handler(self) -> Any:
        return grpc.method_handlers_generic_handler(
            "t.Echo",
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Meta": grpc.unary_unary_rpc_method_handler(self.meta),
                "Chat": grpc.stream_stream_rpc_method_handler(self.chat),
                "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
                "Wait": grpc.unary_unary_rpc_method_handler(self.wait),
            },
        )


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, EchoService]]:
    service = EchoService()
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((service.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    proxy = SyncProxy(tmp_path_factory.mktemp("grpc"))
    cert, key = self_signed(HOST, ca=True)
    proxy.call("set_certificate", HOST, cert, key)
    proxy.set_route(HOST, f"127.0.0.1:{port}", upstream_protocol="h2c")
    creds = grpc.ssl_channel_credentials(root_certificates=cert.encode())
    ch = grpc.secure_channel(
        f"127.0.0.1:{proxy.https_port}",
        creds,
        options=[("grpc.ssl_target_name_override", HOST), ("grpc.default_authority", HOST)],
    )
    try:
        yield ch, service
    finally:
        ch.close()
        proxy.close()
        server.stop(0)


def test_unary_call_with_metadata_and_trailing_metadata(channel: Any) -> None:
    ch, _ = channel
    reply, call = ch.unary_unary("/t.Echo/Unary").with_call(b"hello", timeout=20)
    assert reply == b"olleh" and call.code() == grpc.StatusCode.OK
    assert ("x-done", "yes") in tuple(call.trailing_metadata())
    seen = json.loads(ch.unary_unary("/t.Echo/Meta")(b"", metadata=(("x-mine", "1"),), timeout=20))
    assert seen["x-mine"] == "1" and seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-for"] == "127.0.0.1" and len(seen["x-request-id"]) == 32


def test_status_error_reaches_the_client(channel: Any) -> None:
    ch, _ = channel
    with pytest.raises(grpc.RpcError) as err:
        ch.unary_unary("/t.Echo/Fail")(b"", timeout=20)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and err.value.details() == "no such thing"


def test_bidirectional_stream_message_by_message(channel: Any) -> None:
    ch, _ = channel
    outgoing: queue.Queue[bytes | None] = queue.Queue()

    def requests() -> Iterator[bytes]:
        while (m := outgoing.get()) is not None:
            yield m

    replies = ch.stream_stream("/t.Echo/Chat")(requests(), timeout=20)
    for i in range(3):
        outgoing.put(b"m%d" % i)
        assert next(replies) == b"echo:m%d" % i  # answered while the request stream is still open
    outgoing.put(None)
    assert list(replies) == [] and replies.code() == grpc.StatusCode.OK


def test_message_larger_than_every_window(channel: Any) -> None:
    ch, _ = channel
    payload = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    assert ch.unary_unary("/t.Echo/Unary")(payload, timeout=30) == payload[::-1]


def test_cancelled_call_is_cancelled_on_the_server(channel: Any) -> None:
    ch, service = channel
    future = ch.unary_unary("/t.Echo/Wait").future(b"", timeout=30)
    assert service.waiting.wait(20)
    future.cancel()
    assert service.cancelled.wait(20)  # the proxy reset the app's stream when the client reset its own
