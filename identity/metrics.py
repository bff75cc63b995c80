"""Prometheus metrics: the names and labels the dashboard and the runbooks use (README, "Metrics").

Under ``identity serve`` every worker writes its values to files in one directory (prometheus_client's
multiprocess mode, ``IDENTITY_METRICS_DIR``) and the server's parent process sums them at ``GET /metrics`` on
the management port (``identity.metrics_server``). Without a directory (tests, an app run by hand) the
values stay in this process's own registry (``registry()``).

Nothing happens at import: ``configure(settings)`` (called by ``create_app``) makes the metrics once per
process. Until then, and with ``IDENTITY_METRICS_PORT=0``, every ``count_*`` below is one ``None`` check.
Label children are looked up once and kept (``labels()`` validates its arguments on every call).

Counters and the HTTP histogram, counted several times in every request (the request, the caches, the
token), are added up per worker in plain dicts and written to prometheus_client's values once a second
(``flush``, from ``publish_forever``) and at shutdown: in multiprocess mode every value write takes the
library's one lock and writes its mmap file, three writes per histogram observation, which together cost
more than a discovery request's own work. A worker killed with SIGKILL loses at most its last second of
counts. Gauges and the password-wait histogram (a few per sign-in) are written as they happen.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from identity.settings import Settings

HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PASSWORD_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# Methods a client may send are unbounded; anything else is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PUBLISH_SECONDS = 1.0  # how often a worker samples its pool and flushes its counts


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.http_requests = Counter(
            "identity_http_requests",
            "HTTP requests answered, by route template, method, status and tenant",
            ["route", "method", "status", "tenant"],
            registry=r,
        )
        self.http_duration = Histogram(
            "identity_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            ["route", "method", "tenant"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.tokens_issued = Counter("identity_tokens_issued", "Access tokens issued", ["grant_type"], registry=r)
        self.logins = Counter("identity_logins", "End-user password sign-ins", ["result"], registry=r)
        self.refresh_reuse = Counter(
            "identity_refresh_token_reuse_detected", "Rotated refresh tokens presented again", registry=r
        )
        self.code_replay = Counter("identity_code_replay_detected", "Authorization codes presented again", registry=r)
        self.cache_lookups = Counter(
            "identity_cache_lookups", "In-memory cache lookups", ["cache", "result"], registry=r
        )
        self.password_queue_depth = Gauge(
            "identity_password_queue_depth",
            "Password verifications asked for and not yet answered",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.password_queue_wait = Histogram(
            "identity_password_queue_wait_seconds",
            "Time a sign-in waits for its password verification, queueing and argon2 included",
            buckets=PASSWORD_BUCKETS,
            registry=r,
        )
        self.db_pool = Gauge(
            "identity_db_pool_connections",
            "Database connections of the pool, by state",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.db_unavailable = Counter(
            "identity_db_unavailable", "Requests answered 503 because the database was unreachable", registry=r
        )
        self.children: dict[tuple[Any, ...], Any] = {}
        # Not yet written to the values above: (route, method, status, tenant) -> [count, seconds summed,
        # count per bucket (the last: +Inf)], and counter child -> increments. Counters are also counted in
        # the thread pool's threads, hence the lock (uncontended: a fraction of a microsecond).
        self.pending_http: dict[tuple[str, str, int, str], list[Any]] = {}
        self.pending_counts: dict[Any, int] = {}
        self.lock = threading.Lock()

    def add(self, metric: Any, *labels: str) -> None:
        counter = self.child(metric, *labels) if labels else metric
        with self.lock:
            self.pending_counts[counter] = self.pending_counts.get(counter, 0) + 1

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = metric.labels(*labels)
        return found


_metrics: _Metrics | None = None
_registry: CollectorRegistry | None = None


def exported() -> dict[str, str]:
    """Name -> type of every metric this code exports, as PromQL names them (counters with ``_total``): what
    dashboards and alerts may use (tests/deploy/test_dashboard.py checks the chart's dashboard against it)."""
    registry = CollectorRegistry()
    _Metrics(registry)
    return {f"{f.name}_total" if f.type == "counter" else f.name: f.type for f in registry.collect()}


def configure(settings: Settings) -> bool:
    """Make this process's metrics (once); False when metrics are off (``IDENTITY_METRICS_PORT=0``)."""
    global _metrics, _registry  # noqa: PLW0603 - one set of metrics per process, as Prometheus counts them
    if settings.metrics_port == 0:
        return False
    if _metrics is None:
        if settings.metrics_dir:
            # prometheus_client picks its value class at import and reads the directory from the environment;
            # `identity serve` exports both before the workers start, this makes sure of it in this process.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir
            if not getattr(values.ValueClass, "_multiprocess", False):
                values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
            _registry = None
        else:
            _registry = CollectorRegistry(auto_describe=True)
        _metrics = _Metrics(_registry)
    return True


def registry() -> CollectorRegistry | None:
    """The in-process registry (None in multiprocess mode or before ``configure``), counts flushed: tests
    read it."""
    flush()
    return _registry


def bounded_method(method: str) -> str:
    return method if method in METHODS else "other"


def record_request(route: str, method: str, status: int, tenant: str, seconds: float) -> None:
    """Counted in this worker until the next ``flush``: a dict lookup and three additions."""
    m = _metrics
    if m is None:
        return
    key = (route, method, status, tenant)
    with m.lock:
        entry = m.pending_http.get(key)
        if entry is None:
            entry = m.pending_http[key] = [0, 0.0, [0] * (len(HTTP_BUCKETS) + 1)]
        entry[0] += 1
        entry[1] += seconds
        entry[2][bisect_left(HTTP_BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds


def flush() -> None:
    """What was counted since the last flush, written to the metric values."""
    m = _metrics
    if m is None:
        return
    with m.lock:
        if not m.pending_http and not m.pending_counts:
            return
        http, m.pending_http = m.pending_http, {}
        counts, m.pending_counts = m.pending_counts, {}
    for counter, n in counts.items():
        counter.inc(n)
    for (route, method, status, tenant), (count, seconds, buckets) in http.items():
        m.child(m.http_requests, route, method, str(status), tenant).inc(count)
        duration = m.child(m.http_duration, route, method, tenant)
        # What Histogram.observe writes, once per bucket rather than once per request (prometheus-client is
        # pinned; tests/identity/test_metrics.py compares the result with observe's).
        duration._sum.inc(seconds)
        for value, n in zip(duration._buckets, buckets, strict=True):
            if n:
                value.inc(n)


def count_token_issued(grant_type: str) -> None:
    if _metrics is not None:
        _metrics.add(_metrics.tokens_issued, grant_type)


def count_login(success: bool) -> None:
    if _metrics is not None:
        _metrics.add(_metrics.logins, "success" if success else "failure")


def count_refresh_token_reuse() -> None:
    if _metrics is not None:
        _metrics.add(_metrics.refresh_reuse)


def count_code_replay() -> None:
    if _metrics is not None:
        _metrics.add(_metrics.code_replay)


def count_cache(cache: str, hit: bool) -> None:
    if _metrics is not None:
        _metrics.add(_metrics.cache_lookups, cache, "hit" if hit else "miss")


def count_db_unavailable() -> None:
    """A request answered 503 because the database was unreachable (the outage handlers call it)."""
    if _metrics is not None:
        _metrics.add(_metrics.db_unavailable)


class PasswordWait:
    """``with PasswordWait():`` around one verification: the queue depth while it waits, its time after."""

    __slots__ = ("_started",)

    def __enter__(self) -> None:
        if _metrics is not None:
            _metrics.password_queue_depth.inc()
        self._started = _now()

    def __exit__(self, *_exc: object) -> None:
        if _metrics is not None:
            _metrics.password_queue_depth.dec()
            _metrics.password_queue_wait.observe(_now() - self._started)


def _now() -> float:
    return time.perf_counter()


def process_exiting() -> None:
    """A worker's last counts are written, and its live gauges leave the sums with it (a crashed
    one's at the next scrape: metrics_server)."""
    flush()
    if _metrics is not None and _registry is None:
        from prometheus_client import multiprocess  # noqa: PLC0415 - multiprocess mode only

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def sample_pool(engine: Engine) -> None:
    """This process's pool, as its gauges (summed over live workers)."""
    pool: Any = engine.pool
    checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
    idle: Callable[[], int] | None = getattr(pool, "checkedin", None)
    if _metrics is None or checked_out is None or idle is None:  # (pools without a count: nothing to say)
        return
    _metrics.child(_metrics.db_pool, "checked_out").set(checked_out())
    _metrics.child(_metrics.db_pool, "idle").set(idle())


async def publish_forever(engine: Engine) -> None:
    """The pool read and the counts written at this pace rather than at scrape time: the scrape
    happens in another process."""
    if _metrics is None:
        return
    while True:
        sample_pool(engine)
        flush()
        await anyio.sleep(PUBLISH_SECONDS)
