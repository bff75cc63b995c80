"""Structured logs: one JSON object per line in prod. Never log secrets, passwords, codes or tokens.

Every line carries ``request_id``, ``tenant`` and ``route``: those of the request being served when the line
was logged (``identity.observe`` sets them for each request), empty outside a request. uvicorn's own loggers
use the same format under ``identity serve`` (``uvicorn_log_config``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Protocol

from identity.settings import Settings

_STANDARD = set(vars(logging.makeLogRecord({})))
PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"


class RequestInfo(Protocol):
    """What a log line says about the request it was made in (``identity.observe.Observed`` makes one)."""

    @property
    def request_id(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def route(self) -> str: ...


current_request: ContextVar[RequestInfo | None] = ContextVar("identity_request", default=None)


class JsonFormatter(logging.Formatter):
    _last: tuple[int, str] = (-1, "")  # the last second formatted: most lines share theirs with the one before

    def format(self, record: logging.LogRecord) -> str:
        request = current_request.get()
        second, ts = self._last
        if int(record.created) != second:
            second = int(record.created)
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
            self._last = (second, ts)
        entry: dict[str, Any] = {
            "ts": ts,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request.request_id if request is not None else "",
            "tenant": request.tenant if request is not None else "",
            "route": request.route if request is not None else "",
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger("identity")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's loggers in our format; its access log off (``identity.access`` writes one line per request,
    without the query string, which carries codes and ID tokens)."""
    formatter: dict[str, str] = (
        {"()": "identity.logging.JsonFormatter"} if settings.log_json else {"format": PLAIN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
