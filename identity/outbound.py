"""Where the provider itself may send a request: a client's back-channel logout URI, its ``jwks_uri``.

A registered URL is the client's to choose, so in prod it must not make the provider call into its own
network: the host is resolved and every address it resolves to must be global (no private, loopback,
link-local, shared, reserved or multicast address). In dev anything goes, so tests can serve from loopback.

``checked_target`` also pins the connection to the address it checked (the URL names the address, the
``Host`` header and TLS's SNI the host name, so the certificate is still verified for the name): a DNS answer
that changes between the check and the connection cannot send the request elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class Refused(ValueError):
    """The provider will not call this URL; the message says why (fit for a log or an error description)."""


@dataclass(frozen=True)
class Target:
    url: str  # what to connect to: in prod, the checked address in place of the host name
    headers: dict[str, str] = field(default_factory=dict)  # Host, when the URL names the address
    extensions: dict[str, Any] = field(default_factory=dict)  # httpx's sni_hostname, for the same reason


def checked_target(uri: str, *, prod: bool) -> Target:
    """Where to send a request for ``uri``, or Refused."""
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise Refused("not an http(s) URL")
    if not prod:
        return Target(uri)
    if parts.scheme != "https":
        raise Refused("https is required")
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise Refused("the host name does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]  # (no IPv6 scope id)
    if not addresses or any(not address.is_global for address in addresses):
        raise Refused("the host resolves to a private or loopback address")
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host = name + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))
    return Target(pinned, {"Host": host}, {"sni_hostname": parts.hostname})


def address_problem(uri: str, *, prod: bool) -> str | None:
    """Why the provider will not call ``uri`` from here, or None."""
    try:
        checked_target(uri, prod=prod)
    except Refused as refused:
        return str(refused)
    return None
