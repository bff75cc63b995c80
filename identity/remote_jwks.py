"""Fetching a client's ``jwks_uri`` (OIDC Core §10.1.1): bounded in time and size, cached briefly, never
into the provider's own network in prod (``identity.outbound``).

The request has ``FETCH_SECONDS`` for the connection and for each read, and the body is abandoned at the
first chunk that arrives after ``FETCH_SECONDS`` in all (so a trickling server is cut off too); it reads at most
``FETCHED_MAX_BYTES`` and stops there, follows no redirect and sends no cookies. A document is kept for
``TTL_SECONDS``; an assertion naming a ``kid`` the cached document lacks may fetch it again once (the client
rotated its keys), at most every ``REFETCH_MIN_SECONDS`` per URI so unknown kids cannot make us hammer it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx
from joserfc.jwk import KeySet

from identity import metrics
from identity.client_jwks import FETCHED_MAX_BYTES, JwksError, checked_key_set
from identity.outbound import Refused, checked_target

FETCH_SECONDS = 3.0
TTL_SECONDS = 300.0
REFETCH_MIN_SECONDS = 10.0
CACHE_MAX = 1000  # URIs remembered per process; the oldest go first


class FetchError(ValueError):
    """The document could not be had; the message is fit for an ``error_description`` (no key material)."""


@dataclass
class _Fetched:
    keys: KeySet
    at: float


class RemoteJwks:
    def __init__(
        self,
        *,
        prod: bool,
        timeout: float = FETCH_SECONDS,
        max_bytes: int = FETCHED_MAX_BYTES,
        ttl: float = TTL_SECONDS,
        refetch_min: float = REFETCH_MIN_SECONDS,
    ) -> None:
        self.prod, self.timeout, self.max_bytes = prod, timeout, max_bytes
        self.ttl, self.refetch_min = ttl, refetch_min
        self._cache: dict[str, _Fetched] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # requests made (tests count them)

    def keys(self, uri: str, *, refresh: bool = False) -> KeySet:
        """The key set at ``uri``: cached unless stale, or ``refresh`` and the cached copy is old enough."""
        with self._lock:
            cached = self._cache.get(uri)
        age = time.monotonic() - cached.at if cached is not None else None
        if cached is not None and age is not None and age < (self.refetch_min if refresh else self.ttl):
            metrics.count_cache("remote_jwks", hit=True)
            return cached.keys
        metrics.count_cache("remote_jwks", hit=False)
        keys = self._fetch(uri)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))
            self._cache[uri] = _Fetched(keys, time.monotonic())
        return keys

    def forget(self, uri: str) -> None:
        with self._lock:
            self._cache.pop(uri, None)

    def _fetch(self, uri: str) -> KeySet:
        try:
            target = checked_target(uri, prod=self.prod)
        except Refused as refused:
            raise FetchError(f"The client's jwks_uri cannot be fetched: {refused}.") from None
        self.fetches += 1
        headers = {**target.headers, "Accept": "application/json"}
        deadline = time.monotonic() + self.timeout
        body = bytearray()
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as http,
                http.stream(
                    "GET",
                    target.url,
                    headers=headers,
                    extensions=target.extensions,
                ) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"The client's jwks_uri answered HTTP {response.status_code}.")
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchError(
                            f"The client's jwks_uri document is too large ({self.max_bytes} bytes at most)."
                        )
                    if time.monotonic() > deadline:
                        raise FetchError("The client's jwks_uri did not answer in time.")
        except httpx.TimeoutException:
            raise FetchError("The client's jwks_uri did not answer in time.") from None
        except httpx.HTTPError:
            raise FetchError("The client's jwks_uri cannot be reached.") from None
        try:
            return checked_key_set(json.loads(body), max_bytes=self.max_bytes)
        except ValueError as error:  # JwksError included
            detail = str(error) if isinstance(error, JwksError) else "is not JSON"
            raise FetchError(f"The client's jwks_uri document {detail}.") from None
