"""The hosted pages' languages (OIDC Core §3.1.2.1 ``ui_locales``): what a user of each language reads, how
the language is chosen, and that every string on those pages has a translation in every shipped catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from identity import i18n
from identity.passwords import MIN_PASSWORD_LENGTH, TOO_SHORT
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.flow import authorize_url, hidden, pkce_pair, submit_login

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = sorted(i18n.LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"))


@pytest.fixture
def rp(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return make_client(ctx, tenant)


def start(http: TestClient, client_id: str, headers: dict[str, str] | None = None, **params: str):  # type: ignore[no-untyped-def]
    """/authorize, then the login page it sends the browser to."""
    _, challenge = pkce_pair()
    query = {"scope": "openid profile", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    response = http.get(authorize_url("acme", client_id, **query, **params), headers=headers)
    assert response.status_code == 302, response.text
    return http.get(response.headers["location"], headers=headers)


def extracted_messages() -> set[str]:
    with (i18n.LOCALES_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords={"_": None, "N_": None, "gettext": None})
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_the_languages_are_english_and_every_shipped_catalog():
    assert i18n.available() == ("en", "de")


@pytest.mark.parametrize("catalog_path", CATALOGS, ids=[p.parts[-3] for p in CATALOGS])
def test_every_string_of_the_hosted_pages_is_translated(catalog_path):
    """A new string on a page without its translation fails here (README, "Languages": how to update)."""
    with catalog_path.open("rb") as po:
        catalog = read_po(po)
    messages = extracted_messages()
    assert len(messages) > 50
    untranslated = sorted(m for m in messages if not (catalog.get(m) and catalog.get(m).string))
    assert untranslated == []
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
    # Placeholders (%(name)s) agree between each message and its translation.
    assert [errors for _, errors in catalog.check()] == []


def test_the_password_length_message_says_the_real_minimum():
    assert f" {MIN_PASSWORD_LENGTH} " in TOO_SHORT


@pytest.mark.parametrize(
    ("ui_locales", "accept_language", "expected"),
    [
        (None, None, "en"),
        ("de", None, "de"),
        ("de-CH", None, "de"),
        ("fr-CA fr de", None, "de"),  # the first we have, in the client's order
        ("fr", "de", "de"),  # nothing asked for is ours: the browser's choice
        ("en", "de", "en"),  # ui_locales wins over the browser
        (None, "fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7", "de"),
        (None, "en;q=0.5, de", "de"),  # by weight, not by position
        (None, "de;q=0, en", "en"),  # q=0 means "not this one"
        (None, "DE-de", "de"),
        (None, "de;q=abc, en", "en"),  # a malformed weight counts for nothing
        ("x" * 5000, ",;;=q" * 500, "en"),  # nonsense is not a language, and never an error
    ],
)
def test_the_language_is_chosen_by_ui_locales_then_the_browser(ui_locales, accept_language, expected):
    assert i18n.negotiate(ui_locales, accept_language) == expected


def test_ui_locales_gives_the_login_page_in_german(http, rp):
    login = start(http, rp.client_id, ui_locales="de-DE en")
    assert login.status_code == 200
    assert login.headers["content-language"] == "de"
    assert '<html lang="de">' in login.text
    assert '<h1 id="page-title">Anmelden</h1>' in login.text
    assert "um mit <strong>Acme Web</strong> fortzufahren" in login.text
    assert "E-Mail-Adresse" in login.text and "Passwort" in login.text
    assert "Sign in" not in login.text


def test_the_language_holds_through_the_whole_flow(http, rp):
    """Login error, then consent: each page of the pending request speaks the language it asked for."""
    login = start(http, rp.client_id, ui_locales="de", prompt="consent")
    wrong = submit_login(http, "acme", login.text, "alice@example.com", "not the password")
    assert wrong.status_code == 401
    assert "E-Mail-Adresse oder Passwort ist falsch." in wrong.text
    right = submit_login(http, "acme", wrong.text, "alice@example.com", PASSWORD)
    consent = http.get(right.headers["location"])
    assert consent.headers["content-language"] == "de"
    assert "möchte auf Ihr Konto zugreifen" in consent.text
    assert "Ihren Namen und Ihr Profil sehen" in consent.text  # the profile scope's description
    assert ">Erlauben</button>" in consent.text and ">Ablehnen</button>" in consent.text


def test_the_browser_language_is_used_when_the_client_asks_for_none(http, rp):
    german = {"Accept-Language": "de-AT, de;q=0.9, en;q=0.5"}
    assert "Anmelden" in start(http, rp.client_id, german).text
    assert '<h1 id="page-title">Sign in</h1>' in start(http, rp.client_id).text
    asked = start(http, rp.client_id, german, ui_locales="en")
    assert asked.headers["content-language"] == "en"


def test_an_unsupported_language_falls_back_to_english(http, rp):
    login = start(http, rp.client_id, ui_locales="ja fr")
    assert login.headers["content-language"] == "en"
    assert '<html lang="en">' in login.text


def test_the_error_page_of_a_bad_request_is_translated(http, rp):
    bad = http.get(
        authorize_url("acme", rp.client_id, redirect_uri="https://evil.example/cb", ui_locales="de", scope="openid")
    )
    assert bad.status_code == 400
    assert "Dieser Anmeldelink ist ungültig" in bad.text
    assert "die Acme Corp nicht annehmen kann" in bad.text


def test_a_tenant_name_with_percent_signs_and_markup_is_shown_as_written(ctx, http):
    """Translated messages are formatted with the tenant's name: it is an argument, never the format."""
    tenant = make_tenant(ctx, slug="pct", name="100% <b>Bold</b> %(x)s")
    client = make_client(ctx, tenant)
    bad = http.get(authorize_url("pct", client.client_id, redirect_uri="https://evil.example/cb", scope="openid"))
    assert bad.status_code == 400
    assert "request 100% &lt;b&gt;Bold&lt;/b&gt; %(x)s cannot accept" in bad.text


def test_logout_pages_follow_ui_locales(http, rp):
    response = http.get("/t/acme/logout", params={"ui_locales": "de"})
    assert response.status_code == 200
    assert "Sie haben sich abgemeldet" in response.text
    refused = http.get("/t/acme/logout", params={"ui_locales": "de", "post_logout_redirect_uri": "https://x.example/"})
    assert refused.status_code == 400
    assert "Dieser Abmeldelink ist ungültig" in refused.text


def test_the_consoles_stay_english_for_a_german_browser(http):
    page = http.get("/signup", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    assert 'lang="en"' in page.text


def test_discovery_lists_the_languages(http, rp):
    document = http.get("/t/acme/.well-known/openid-configuration").json()
    assert document["ui_locales_supported"] == ["en", "de"]


def test_the_hidden_fields_survive_translation(http, rp):
    """The form still posts what the flow needs, whatever the language."""
    login = start(http, rp.client_id, ui_locales="de")
    assert hidden(login.text, "flow") and hidden(login.text, "csrf_token")
