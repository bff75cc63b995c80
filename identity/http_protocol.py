"""uvicorn's httptools protocol, with one socket write per response instead of two.

uvicorn writes a response's status line and headers as soon as the app sends ``http.response.start``, then
the body in a second ``write``. uvloop sends each write at once, so every small response costs two
``send`` system calls, two TCP segments and two wake-ups of the client. On the token endpoint under load that
was about a fifth of the throughput (``bench/``; README, Performance).

``CoalescingTransport`` holds what is written during one turn of the event loop and sends it as one write
at the end of that turn (``loop.call_soon``). Nothing is reordered or dropped: a response the app finishes
in one turn (everything the fast lane answers, every ordinary page) goes out whole; a streamed one goes out
a turn at a time, as soon as the app awaits; ``close()`` sends what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that joins the writes of one event-loop turn. Everything else is the real transport's."""

    __slots__ = ("_transport", "_loop", "_held", "writes")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self.writes = 0  # writes handed to the real transport (tests count them)

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._send_held)
        self._held.append(data)

    def _send_held(self) -> None:
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        if data and not self._transport.is_closing():  # the client went away: nothing to send it to
            self.writes += 1
            self._transport.write(data)

    def close(self) -> None:
        self._send_held()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, pause_reading, resume_reading, set_protocol
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


# How every process serves the app: ``identity serve`` and the tests' live server alike.
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": CoalescingHttpToolsProtocol,
    "access_log": False,  # identity.observe logs each request itself (never its query string)
    "server_header": False,  # no software banner (and one header less to write per response)
}
