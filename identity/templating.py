"""The Jinja2 environments (autoescaped) of every page: one per language, the same templates and filters,
each with its own translations installed (``identity.i18n``). Tenant branding arrives as variables."""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from identity import i18n

# Shipped inside the package (package data), so an installed wheel finds them as well as a checkout.
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


class LocalizedTemplates:
    """The templates in each supported language; ``in_language`` gives the one to render with."""

    def __init__(self) -> None:
        self._by_locale = {locale: Jinja2Templates(env=_environment(locale)) for locale in i18n.available()}

    def in_language(self, locale: str) -> Jinja2Templates:
        return self._by_locale.get(locale) or self._by_locale[i18n.DEFAULT]


def _environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: _("Hello %(name)s", name=x) formats after translating and escapes the values.
    translations = i18n.translations(locale)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    # A message made in Python (an error, a title) is translated as it is, never used as a format string:
    # it may hold what a user typed.
    env.filters["t"] = lambda message: translations.gettext(message) if message else ""  # "" is the catalog header
    env.globals["locale"] = locale
    env.filters["datetime"] = lambda ts: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(ts)))
    return env


def make_templates() -> LocalizedTemplates:
    return LocalizedTemplates()
