"""Where the provider itself may send a request: a client's back-channel logout URI, its ``jwks_uri``.

A registered URL is the client's to choose, so in prod it must not make the provider call into its own
network: the host is resolved and every address it resolves to must be global (no private, loopback,
link-local, shared, reserved or multicast address). In dev anything goes, so tests can serve from loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def address_problem(uri: str, *, prod: bool) -> str | None:
    """Why the provider will not call ``uri`` from here, or None."""
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return "not an http(s) URL"
    if not prod:
        return None
    if parts.scheme != "https":
        return "https is required"
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return "the host name does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])  # (an IPv6 scope id is not part of it)
        if not address.is_global:
            return "the host resolves to a private or loopback address"
    return None
