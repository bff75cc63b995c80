"""The languages of the hosted pages: which one a request gets, and its translations.

End users read the login, consent, sign-up, logout and error pages in the language the client asked for
with ``ui_locales`` (OIDC Core §3.1.2.1, a space-separated list in order of preference), else the one
their browser prefers (``Accept-Language``), else English. Translations are Babel catalogs under
``identity/locales/<lang>/LC_MESSAGES/messages.po``, read once per process; a language is supported when
its catalog is there (README, "Languages", says how to add one). The developer portal and the admin
console are English only: their readers are the tenant's developers and our operators.

Strings in templates are marked ``_("...")`` or ``{% trans %}``; strings made in Python and shown on a
page are marked ``N_("...")`` where they are defined and translated where they are rendered.
"""

from __future__ import annotations

import gettext
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DEFAULT = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
MAX_PREFERENCES = 20  # a longer list (or header) is not a preference any browser sends
MAX_TAG = 35  # RFC 5646 §4.4.1: a language tag needs at most 35 characters


def N_(message: str) -> str:  # noqa: N802 (the name gettext tools look for)
    """Marks a string made in Python for translation where a page shows it."""
    return message


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """English (the source language), then every language with a catalog."""
    shipped = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT, *(lang for lang in shipped if lang != DEFAULT))


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of ``locale`` compiled in memory (no .mo files to build or ship); English has none."""
    if locale == DEFAULT or locale not in available():
        return gettext.NullTranslations()
    with (LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate(ui_locales: str | None = None, accept_language: str | None = None) -> str:
    """The language to answer in: the first of ``ui_locales`` we have (a regional tag such as ``de-CH``
    matches its language), else the browser's most preferred one we have, else English."""
    preferred = [*_tags(ui_locales), *_accepted(accept_language)]
    return negotiate_locale(preferred, available(), sep="-", aliases={}) or DEFAULT


def _tags(ui_locales: str | None) -> list[str]:
    return [tag.lower() for tag in (ui_locales or "").split()[:MAX_PREFERENCES] if len(tag) <= MAX_TAG]


def _accepted(header: str | None) -> list[str]:
    """RFC 9110 §12.5.4: ``Accept-Language: de-CH, de;q=0.9, en;q=0.5``, most preferred first (a tag with
    ``q=0`` is refused, not preferred; a malformed weight counts as 0)."""
    weighted: list[tuple[float, str]] = []
    for part in (header or "").split(",")[:MAX_PREFERENCES]:
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*" or len(tag) > MAX_TAG:
            continue
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        if weight > 0:
            weighted.append((weight, tag))
    weighted.sort(key=lambda item: -item[0])  # stable: equal weights keep the header's order
    return [tag for _, tag in weighted]
