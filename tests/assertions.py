"""For private_key_jwt tests: a client's key pair, the assertions it signs, and a real HTTP server that
serves its JWKS (slowly, or too much of it, when a test asks)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key(alg: str = "RS256", kid: str | None = None) -> Key:
    parameters = {"kid": kid} if kid is not None else None
    if alg in {"RS256", "PS256"}:
        return RSAKey.generate_key(2048, parameters=parameters)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=parameters)
    return OctKey.generate_key(256, parameters=parameters)


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(
    key: Key,
    client_id: str,
    audience: str | list[str],
    *,
    alg: str = "RS256",
    lifetime: int = 60,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A client assertion as RFC 7523 §3 describes it; ``claims`` override (a value of None drops the claim)."""
    issued = int(time.time())
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    protected = {"alg": alg, **({"kid": key.kid} if key.kid else {}), **(header or {})}
    return jwt.encode(protected, body, key, algorithms=[alg])


def form(signed: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": signed, **extra}


@dataclass
class JwksServer:
    """A JWKS served over real HTTP on loopback. ``document`` can change; ``delay`` holds each answer back;
    ``padding`` makes the body that many bytes longer; ``requests`` counts what was asked."""

    document: dict[str, Any]
    delay: float = 0.0
    padding: int = 0
    chunk_delay: float = 0.0  # between the body's 8 KiB chunks: a server that trickles
    requests: int = 0
    url: str = ""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)


@contextmanager
def serving(document: dict[str, Any]) -> Iterator[JwksServer]:
    state = JwksServer(document)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            state.requests += 1
            body = json.dumps(state.document).encode()
            if state.padding:
                body = body[:-1] + b',"pad":"' + b"x" * state.padding + b'"}'
            time.sleep(state.delay)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                for start in range(0, len(body), 8192):
                    self.wfile.write(body[start : start + 8192])
                    self.wfile.flush()
                    time.sleep(state.chunk_delay)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the provider stopped reading, as it should

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state._server = server  # noqa: SLF001
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
