"""Tenant branding on the hosted pages: the contrast arithmetic, /t/{tenant}/branding.css, and the login,
consent and error pages linking it and showing the logo, all without inline style."""

import re

import pytest
from sqlmodel import select

from identity.branding import (
    DARK_INK,
    LIGHT_INK,
    branding_css,
    contrast_ratio,
    ink_for,
    relative_luminance,
    safe_logo_url,
)
from identity.db import session_scope
from identity.models.tenant import Tenant
from tests.factories import make_client, make_tenant, make_user
from tests.flow import authorize_url, hidden, pkce_pair

# -- the arithmetic ---------------------------------------------------------------------------------------


def test_relative_luminance_follows_wcag():
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == pytest.approx(0.0)
    assert relative_luminance("#FF0000") == pytest.approx(0.2126)
    assert relative_luminance("#00ff00") == pytest.approx(0.7152)
    assert relative_luminance("#0000ff") == pytest.approx(0.0722)
    assert relative_luminance("#808080") == pytest.approx(0.2158605, abs=1e-6)  # sRGB 128 → 0.21586
    assert relative_luminance("#111827") == pytest.approx(0.00916, abs=1e-4)


def test_contrast_ratio_matches_known_values():
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)  # order does not matter
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic "just fails AA"
    assert contrast_ratio("#4f46e5", "#4f46e5") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("brand", "ink"),
    [
        ("#4f46e5", LIGHT_INK),  # the default indigo
        ("#000000", LIGHT_INK),
        ("#1d4ed8", LIGHT_INK),
        ("#b91c1c", LIGHT_INK),
        ("#ffffff", DARK_INK),
        ("#fde047", DARK_INK),  # yellow
        ("#22c55e", DARK_INK),  # bright green
        ("#0ea5e9", DARK_INK),  # sky blue
        ("#808080", DARK_INK),
    ],
)
def test_ink_is_whichever_contrasts_more(brand, ink):
    assert ink_for(brand) == ink
    other = DARK_INK if ink == LIGHT_INK else LIGHT_INK
    assert contrast_ratio(brand, ink) >= contrast_ratio(brand, other)


def test_bad_colours_are_refused_or_replaced():
    for bad in ("", "#fff", "4f46e5", "#4f46e5;}", "red", "#gggggg"):
        with pytest.raises(ValueError):
            relative_luminance(bad)
    assert branding_css("#ABCDEF") == ":root{--brand:#abcdef;--brand-ink:#111827}"
    assert branding_css("url(x)") == ":root{--brand:#4f46e5;--brand-ink:#ffffff}"  # a bad row never reaches CSS


def test_only_https_logos_are_used():
    assert safe_logo_url("https://cdn.example.com/l.png") == "https://cdn.example.com/l.png"
    for bad in (
        "",
        "http://cdn.example.com/l.png",
        "javascript:alert(1)",
        "data:image/png;base64,AA",
        "https://x.test/a b.png",
        "https://" + "a" * 500,
    ):
        assert safe_logo_url(bad) == ""


# -- /t/{tenant}/branding.css ------------------------------------------------------------------------------


def test_branding_css_is_the_tenants_colours_and_cacheable(http, ctx):
    make_tenant(ctx, primary_color="#fde047")
    response = http.get("/t/acme/branding.css")
    assert response.status_code == 200
    assert response.text == ":root{--brand:#fde047;--brand-ink:#111827}"
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = http.get("/t/acme/branding.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert http.get("/t/acme/branding.css", headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert http.get("/t/acme/branding.css", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_branding_css_changes_with_the_colour_and_differs_per_tenant(http, ctx):
    make_tenant(ctx)
    make_tenant(ctx, slug="globex", name="Globex", primary_color="#0f766e")
    acme, globex = http.get("/t/acme/branding.css"), http.get("/t/globex/branding.css")
    assert acme.text == ":root{--brand:#4f46e5;--brand-ink:#ffffff}"
    assert globex.text == ":root{--brand:#0f766e;--brand-ink:#ffffff}"
    assert acme.headers["etag"] != globex.headers["etag"]


def test_branding_css_of_an_unknown_tenant_is_404(http, ctx):
    assert http.get("/t/nobody/branding.css").status_code == 404
    assert http.get("/t/BAD!/branding.css").status_code == 404


# -- the hosted pages -------------------------------------------------------------------------------------


def start_login(http, ctx, **tenant_settings):
    tenant = make_tenant(ctx, **tenant_settings)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant, scopes=["openid", "profile"])
    _, challenge = pkce_pair()
    location = http.get(
        authorize_url(
            "acme", rp.client_id, scope="openid profile", code_challenge=challenge, code_challenge_method="S256"
        )
    ).headers["location"]
    return http.get(location), rp


def stylesheets(html: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)


def test_login_page_links_branding_after_app_css_without_inline_style(http, ctx):
    page, _ = start_login(http, ctx, primary_color="#0f766e")
    assert page.status_code == 200
    assert stylesheets(page.text) == ["/static/css/app.css", "/t/acme/branding.css?v=0f766e"]
    assert "style=" not in page.text and "<style" not in page.text
    csp = page.headers["content-security-policy"]
    assert "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert 'class="brand-mark"' in page.text and "<img" not in page.text  # no logo set: the letter tile


def test_logo_replaces_the_letter_tile_on_login_and_consent(http, ctx):
    page, _ = start_login(http, ctx, logo_url="https://cdn.acme.test/logo.svg")
    assert '<img class="brand-logo" src="https://cdn.acme.test/logo.svg" alt="Acme Corp" height="36"' in page.text
    assert 'class="brand-mark"' not in page.text
    done = http.post(
        "/t/acme/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "email": "alice@example.com",
            "password": "correct horse battery",
        },
    )
    consent = http.get(done.headers["location"])
    assert consent.status_code == 200 and "wants to access your account" in consent.text
    assert '<img class="brand-logo" src="https://cdn.acme.test/logo.svg" alt="Acme Corp"' in consent.text
    assert "/t/acme/branding.css?v=4f46e5" in stylesheets(consent.text)


def test_a_non_https_logo_is_never_shown(http, ctx):
    page, _ = start_login(http, ctx, logo_url="http://cdn.acme.test/logo.png")
    assert "<img" not in page.text and 'class="brand-mark"' in page.text


def test_error_pages_of_a_tenant_are_branded(http, ctx):
    page, rp = start_login(http, ctx, primary_color="#be123c", logo_url="https://cdn.acme.test/logo.svg")
    expired = http.get("/t/acme/login?flow=nope")
    assert expired.status_code == 400 and "has expired" in expired.text
    assert stylesheets(expired.text) == ["/static/css/app.css", "/t/acme/branding.css?v=be123c"]
    assert 'alt="Acme Corp"' in expired.text
    # An authorization error names the tenant: its colours apply there too.
    bad = http.get(authorize_url("acme", rp.client_id, redirect_uri="https://evil.example/cb"))
    assert bad.status_code == 400
    assert "/t/acme/branding.css" in " ".join(stylesheets(bad.text))


def test_pages_without_a_tenant_link_no_branding(http, ctx):
    response = http.get("/t/nobody/login?flow=x")
    assert response.status_code == 404
    assert stylesheets(response.text) == ["/static/css/app.css"]


def test_branding_follows_a_change_at_once(http, ctx):
    page, _ = start_login(http, ctx)
    assert "/t/acme/branding.css?v=4f46e5" in stylesheets(page.text)
    with session_scope(ctx.sessions) as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        tenant.primary_color = "#fde047"
        session.add(tenant)
    again = http.get(f"/t/acme/login?flow={hidden(page.text, 'flow')}")
    assert "/t/acme/branding.css?v=fde047" in stylesheets(again.text)
    assert http.get("/t/acme/branding.css?v=fde047").text == ":root{--brand:#fde047;--brand-ink:#111827}"
