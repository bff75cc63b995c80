"""The server's HTTP protocol (``identity.http_protocol``) over real sockets: every kind of response
arrives whole and in order, and an ordinary response leaves in one socket write."""

from __future__ import annotations

import base64
import http.client
import socket
from pathlib import Path
from typing import Any, BinaryIO

from identity.http_protocol import CoalescingTransport
from identity.templating import STATIC_DIR
from tests.factories import make_client, make_tenant

DISCOVERY = "/t/acme/.well-known/openid-configuration"


class KeptOpen:
    """The connection's file, which http.client's response may not close (the next response follows)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


class Wire:
    """One client connection; responses are read off one buffered file, so pipelined ones are not lost."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.file: BinaryIO = self.sock.makefile("rb")

    def makefile(self, _mode: str) -> KeptOpen:  # what http.client.HTTPResponse reads from
        return KeptOpen(self.file)

    def send(self, *requests: bytes) -> None:
        self.sock.sendall(b"".join(requests))

    def response(self, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        answer = http.client.HTTPResponse(self, method=method)  # type: ignore[arg-type]
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def token_request(client_id: str, secret: str, *headers: str) -> bytes:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return request(
        "POST",
        "/t/acme/token",
        f"Authorization: Basic {basic}",
        "Content-Type: application/x-www-form-urlencoded",
        *headers,
        body=b"grant_type=client_credentials",
    )


def server_transport(live_server) -> CoalescingTransport:  # type: ignore[no-untyped-def]
    (connection,) = live_server.server.server_state.connections
    transport: CoalescingTransport = connection.transport
    return transport


def test_each_response_is_whole_and_leaves_in_one_write(live_server):
    tenant = make_tenant(live_server.ctx)
    app = make_client(live_server.ctx, tenant, grant_types=["client_credentials"])
    wire = Wire(live_server.url)
    try:
        wire.send(request("GET", DISCOVERY))
        status, headers, body = wire.response()
        assert status == 200 and body.startswith(b"{") and len(body) == int(headers["content-length"])
        etag = headers["etag"]

        for _ in range(3):  # the token endpoint, over and over on one keep-alive connection
            wire.send(token_request(app.client_id, app.client_secret or ""))
            status, headers, body = wire.response()
            assert status == 200, body
            assert b'"access_token"' in body and headers["cache-control"] == "no-store"

        wire.send(request("HEAD", DISCOVERY))
        status, headers, body = wire.response("HEAD")
        assert status == 200 and body == b"" and headers["etag"] == etag

        wire.send(request("GET", DISCOVERY, f"If-None-Match: {etag}"))
        status, _, body = wire.response()
        assert (status, body) == (304, b"")

        wire.send(token_request(app.client_id, "wrong-secret"))
        status, _, body = wire.response()
        assert status == 401 and b"invalid_client" in body

        assert server_transport(live_server).writes == 7  # one per response, headers and body together
    finally:
        wire.close()


def test_pipelined_requests_are_answered_in_order(live_server):
    tenant = make_tenant(live_server.ctx)
    app = make_client(live_server.ctx, tenant, grant_types=["client_credentials"])
    wire = Wire(live_server.url)
    try:
        wire.send(  # three requests in one packet
            request("GET", DISCOVERY),
            token_request(app.client_id, app.client_secret or ""),
            request("GET", "/t/acme/.well-known/jwks.json"),
        )
        assert b'"issuer"' in wire.response()[2]
        assert b'"access_token"' in wire.response()[2]
        assert b'"keys"' in wire.response()[2]
    finally:
        wire.close()


def test_connection_close_sends_the_whole_response_then_closes(live_server):
    make_tenant(live_server.ctx)
    wire = Wire(live_server.url)
    try:
        wire.send(request("GET", DISCOVERY, "Connection: close"))
        status, headers, body = wire.response()
        assert status == 200 and headers["connection"] == "close" and b'"issuer"' in body
        assert wire.file.read() == b""  # and then the server closed the connection
    finally:
        wire.close()


def test_a_streamed_file_arrives_whole(live_server):
    css = Path(STATIC_DIR) / "css" / "app.css"
    wire = Wire(live_server.url)
    try:
        wire.send(request("GET", "/static/css/app.css"))
        status, _, body = wire.response()
        assert status == 200 and body == css.read_bytes()
    finally:
        wire.close()


def test_expect_100_continue_gets_its_interim_answer_before_the_body_is_sent(live_server):
    tenant = make_tenant(live_server.ctx)
    app = make_client(live_server.ctx, tenant, grant_types=["client_credentials"])
    head, _, body = token_request(app.client_id, app.client_secret or "", "Expect: 100-continue").partition(b"\r\n\r\n")
    wire = Wire(live_server.url)
    try:
        wire.send(head + b"\r\n\r\n")
        assert wire.file.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert wire.file.readline() == b"\r\n"
        wire.send(body)
        status, _, answer = wire.response()
        assert status == 200 and b'"access_token"' in answer
    finally:
        wire.close()
