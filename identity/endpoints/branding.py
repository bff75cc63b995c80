"""``/t/{tenant}/branding.css``: the tenant's brand colour as CSS custom properties (the hosted pages
allow no inline style). Cacheable for five minutes; the pages link it with ``?v=<colour>`` so a change
shows at once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from identity.branding import branding_css
from identity.web import cacheable, current_tenant


async def branding_stylesheet(request: Request) -> Response:
    tenant = await current_tenant(request)
    body = branding_css(tenant.primary_color).encode()
    return cacheable(request, body, "text/css", **{"X-Content-Type-Options": "nosniff"})
