"""Tenant branding on the hosted pages: the brand colour, the ink that reads on it, and the logo.

The hosted pages allow no inline style (CSP ``style-src 'self'``), so the colour reaches them as a tiny
stylesheet, ``/t/{tenant}/branding.css``, that overrides app.css's ``--brand`` and ``--brand-ink``.
"""

from __future__ import annotations

import re
from typing import Any

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND = "#4f46e5"
LIGHT_INK = "#ffffff"
DARK_INK = "#111827"


def is_hex_color(value: str) -> bool:
    return bool(HEX_COLOR.fullmatch(value))


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB ``#rrggbb`` colour: 0 (black) to 1 (white)."""
    if not is_hex_color(color):
        raise ValueError(f"not a #rrggbb colour: {color!r}")

    def linear(channel: str) -> float:
        c = int(channel, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    a, b = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def ink_for(brand: str) -> str:
    """White or near-black text, whichever contrasts more with ``brand`` (white on a tie)."""
    return LIGHT_INK if contrast_ratio(brand, LIGHT_INK) >= contrast_ratio(brand, DARK_INK) else DARK_INK


def brand_color(stored: str) -> str:
    """The stored colour, lowercased; the default if the stored value is somehow not ``#rrggbb``."""
    return stored.lower() if is_hex_color(stored or "") else DEFAULT_BRAND


def branding_css(stored_color: str) -> str:
    brand = brand_color(stored_color)
    return f":root{{--brand:{brand};--brand-ink:{ink_for(brand)}}}"


def safe_logo_url(url: str) -> str:
    """Only an https URL is ever put in an ``<img src>`` (the portal refuses others; this guards old rows)."""
    url = (url or "").strip()
    ok = url.startswith("https://") and len(url) <= 500 and not any(ch.isspace() for ch in url)
    return url if ok else ""


def branding_context(tenant: Any) -> dict[str, str]:
    """What the hosted layout needs to brand a page: the stylesheet's tenant and version, and the logo."""
    return {
        "tenant_slug": tenant.slug,
        "brand_version": brand_color(tenant.primary_color).removeprefix("#"),
        "tenant_logo_url": safe_logo_url(tenant.logo_url),
    }
