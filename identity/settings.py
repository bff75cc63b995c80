"""The one settings object, read from ``IDENTITY_*`` environment variables.

Nothing else in the project reads ``os.environ``: the app factory and the CLI receive a ``Settings``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")  # tenants.resolution.SLUG_PATTERN


class SettingsError(ValueError):
    """The environment describes a configuration we refuse to run with."""


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"IDENTITY_{name} must be a whole number") from None


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///identity.db"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEV_SECRET_KEY
    env: str = "dev"
    # Failed logins allowed per window before we refuse further tries.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 30
    login_throttle_window_seconds: int = 900
    # Wrong user codes allowed per window on the device page (RFC 8628 §5.1), per client IP and per tenant.
    device_max_failures_per_ip: int = 10
    device_max_failures_per_tenant: int = 200
    # How many argon2 verifications may run at once per server (its workers share one queue; the rest wait).
    password_hash_concurrency: int = 2
    # The socket of the server's password service (identity.password_service); set by `identity serve`.
    password_socket: str = ""
    # How long tenants and clients stay cached in each process (seconds; 0 disables the cache).
    cache_seconds: float = 2.0
    # How often each process adds its token counts to the database (the admin console's usage figures).
    usage_flush_seconds: float = 5.0
    log_json: bool = False
    # One access line per request (method, route template, status, duration, request id, tenant). Off by
    # default: writing it costs more than the cheapest answers themselves (discovery: ~40 µs on ~50 µs; see
    # README "Metrics and logs"), the Ingress in front logs every request with its X-Request-ID already, and
    # /metrics counts and times every route.
    access_log: bool = False
    # On SIGTERM: stop accepting, give requests in flight this long to finish, then exit.
    shutdown_grace_seconds: int = 20
    # The management port serving GET /metrics from `identity serve`'s parent process (0: no metrics).
    metrics_port: int = 9464
    # Where the workers' metric files live (prometheus_client's multiprocess directory); set by `identity
    # serve`. Empty: metrics stay in this process (tests, an app run by hand).
    metrics_dir: str = ""
    # Tenants whose slug labels the HTTP metrics; every other tenant is "other" (a bounded label set).
    metrics_tenants: tuple[str, ...] = ()

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return environ.get(f"IDENTITY_{name}", default)

        env = get("ENV", "dev")
        settings = cls(
            database_url=get("DATABASE_URL", cls.database_url),
            public_url=get("PUBLIC_URL", cls.public_url).rstrip("/"),
            secret_key=get("SECRET_KEY", DEV_SECRET_KEY if env != "prod" else ""),
            env=env,
            login_max_failures_per_account=int(get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")),
            login_max_failures_per_ip=int(get("LOGIN_MAX_FAILURES_PER_IP", "30")),
            login_throttle_window_seconds=int(get("LOGIN_THROTTLE_WINDOW_SECONDS", "900")),
            device_max_failures_per_ip=int(get("DEVICE_MAX_FAILURES_PER_IP", "10")),
            device_max_failures_per_tenant=int(get("DEVICE_MAX_FAILURES_PER_TENANT", "200")),
            password_hash_concurrency=int(get("PASSWORD_HASH_CONCURRENCY", "2")),
            password_socket=get("PASSWORD_SOCKET", ""),
            cache_seconds=float(get("CACHE_SECONDS", "2")),
            usage_flush_seconds=float(get("USAGE_FLUSH_SECONDS", "5")),
            log_json=_bool(get("LOG_JSON", "true" if env == "prod" else "false")),
            access_log=_bool(get("ACCESS_LOG", "false")),
            shutdown_grace_seconds=int(get("SHUTDOWN_GRACE_SECONDS", "20")),
            metrics_port=_int("METRICS_PORT", get("METRICS_PORT", "9464")),
            metrics_dir=get("METRICS_DIR", ""),
            metrics_tenants=tuple(slug.strip() for slug in get("METRICS_TENANTS", "").split(",") if slug.strip()),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in {"dev", "prod"}:
            raise SettingsError("IDENTITY_ENV must be 'dev' or 'prod'")
        parts = urlsplit(self.public_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise SettingsError("IDENTITY_PUBLIC_URL must be an absolute http(s) URL")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("IDENTITY_METRICS_PORT must be between 0 (no metrics) and 65535")
        if self.metrics_dir and not os.path.isabs(self.metrics_dir):
            raise SettingsError("IDENTITY_METRICS_DIR must be an absolute path")
        bad = [slug for slug in self.metrics_tenants if not _SLUG.fullmatch(slug)]
        if bad:
            raise SettingsError(f"IDENTITY_METRICS_TENANTS must be a comma-separated list of tenant slugs: {bad[0]!r}")
        if self.is_prod:
            if not self.secret_key or self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise SettingsError("IDENTITY_SECRET_KEY must be set to at least 32 random characters in prod")
            # http only on loopback (a benchmark or a sidecar behind a local TLS terminator).
            if parts.scheme != "https" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
                raise SettingsError("IDENTITY_PUBLIC_URL must use https in prod")

    def issuer(self, slug: str) -> str:
        return f"{self.public_url}/t/{slug}"
