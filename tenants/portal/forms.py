"""Reading portal forms into plain values (no validation rules here: the services own those)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData


def text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def secret(form: FormData, name: str, limit: int = 1100) -> str:
    """A password exactly as typed: never trimmed, or it would not match what the login page checks."""
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in text(form, name, 20000).splitlines() if line.strip()]


def many(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def optional_int(form: FormData, name: str) -> int | None | str:
    """An int, None when blank, or the raw text when it is not a number (the caller reports it)."""
    raw = text(form, name, 20)
    if not raw:
        return None
    return int(raw) if raw.isascii() and raw.isdigit() else raw


def page_number(raw: str | None) -> int:
    """A 1-based page number from a query string; anything else is page 1."""
    raw = raw or ""
    return max(int(raw), 1) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 1


def query_text(request: Any, name: str, most: int = 200) -> str:
    """A search filter from the query string, without control characters (PostgreSQL refuses NUL)."""
    value = request.query_params.get(name, "")
    return "".join(ch for ch in value if ord(ch) >= 0x20 and ord(ch) != 0x7F).strip()[:most]
