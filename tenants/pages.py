"""What the portal and the admin console share in rendering their pages: one content security policy,
one way to render a template with the page headers, and one-time values carried across a redirect."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from identity import i18n
from identity.crypto import derive_key
from identity.web import PAGE_HEADERS

# Each console runs its own small script (copy buttons, confirmations), from our origin only; nothing
# inline, no framing.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
CONSOLE_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": CONSOLE_CSP}


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.templates.in_language(i18n.DEFAULT)  # the consoles are English only
    response: Response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(CONSOLE_HEADERS)
    return response


class OneTimeValue:
    """Something to show exactly once (a new client secret, an invitation link) carried across the redirect
    that follows a form post, so a reload cannot post the form again and the next page shows it only once.
    Encrypted (a key derived for ``purpose``), HttpOnly, limited to the console's path, five minutes."""

    seconds = 300

    def __init__(self, cookie: str, purpose: str, samesite: str) -> None:
        self.cookie, self.purpose, self.samesite = cookie, purpose, samesite

    def _cipher(self, request: Request) -> Fernet:
        key = derive_key(request.app.state.ctx.settings.secret_key, self.purpose)
        return Fernet(base64.urlsafe_b64encode(key))

    def show(self, request: Request, response: Response, data: dict[str, Any], *, path: str) -> Response:
        token = self._cipher(request).encrypt(json.dumps(data).encode()).decode()
        response.set_cookie(
            self.cookie,
            token,
            max_age=self.seconds,
            path=path,
            httponly=True,
            samesite=self.samesite,  # type: ignore[arg-type]
            secure=request.app.state.ctx.settings.secure_cookies,
        )
        return response

    def take(self, request: Request) -> dict[str, Any] | None:
        token = request.cookies.get(self.cookie)
        if not token:
            return None
        try:
            data = json.loads(self._cipher(request).decrypt(token.encode(), ttl=self.seconds))
        except (InvalidToken, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def forget(self, response: Response, *, path: str) -> None:
        response.delete_cookie(self.cookie, path=path)
