"""Authlib request objects built from plain data (the shape of Authlib's Django integration).

Built from data rather than from a Starlette request because the authorization request is
replayed from storage after login and consent (see ``identity.interaction.flows``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers

from identity.models.grant import Grant
from identity.oauth.dpop import Proof


class PlainPayload(OAuth2Payload):
    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        # Last value wins in ``data``; duplicates stay visible in ``datalist`` (RFC 6749 §3.1 checks).
        self._data = {key: values[-1] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class PlainOAuth2Request(OAuth2Request):
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        # Case-insensitive, as HTTP headers are (Authlib asks for "Authorization"); Starlette's Headers are
        # taken as they are (the token endpoint's hot path hands them over).
        if not isinstance(headers, Headers):
            headers = Headers(headers=dict(headers))
        super().__init__(method=method, uri=uri, headers=headers)
        query, form = list(query), list(form)
        self.payload = PlainPayload(query + form)
        self._args = {key: value for key, value in query}
        self._form = {key: value for key, value in form}
        self.auth_time: int | None = None  # set when a signed-in user grants the request
        self.sid: str | None = None  # and the browser session they did it in
        self.grant: Grant | None = None  # the grant a password or implicit response starts
        self.device_authorization: Any = None  # the device grant's claimed authorization (RFC 8628)
        self.dpop: Proof | None = None  # a token request's checked DPoP proof (RFC 9449), its jti claimed

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
