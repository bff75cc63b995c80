"""``/t/{tenant}/branding.css``: the tenant's brand colour as CSS custom properties (the hosted pages
allow no inline style). Cacheable for five minutes; the pages link it with ``?v=<colour>`` so a change
shows at once."""

from __future__ import annotations

import hashlib

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.branding import branding_css
from identity.web import in_transaction
from tenants.resolution import resolve_tenant

CACHEABLE = "public, max-age=300"


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


async def branding_stylesheet(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> str:
        return branding_css(resolve_tenant(session, slug).primary_color)

    body = (await in_transaction(request, work)).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": CACHEABLE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/css", headers=headers)
