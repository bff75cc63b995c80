"""``GET /metrics`` on the management port, served by ``identity serve``'s parent process.

The workers write their values to files in one directory (prometheus_client's multiprocess mode); each
scrape sums them afresh. The port is not the app's: the Ingress routes only the main port, so metrics never
face the internet. Files of workers that are gone stay (their counts are part of the totals), except their
live gauges (queue depth, pool connections), which leave the sums at the next scrape.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from identity.settings import Settings

log = logging.getLogger("identity.metrics")

METRICS_DIR_ENV = "IDENTITY_METRICS_DIR"
PROMETHEUS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus_client's workers write
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def scrape(directory: str) -> bytes:
    forget_dead_workers(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forget_dead_workers(directory: str) -> None:
    """A worker that crashed could not remove its live gauges itself."""
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_GAUGE_FILE.search(os.path.basename(path))
        if match and not _alive(int(match.group(1))):
            mark_process_dead(int(match.group(1)), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _handler(directory: str) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.partition("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = scrape(directory)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            pass  # scrapes every few seconds are no news (and the lines would not be JSON)

    return MetricsHandler


def _prepare(directory: str) -> None:
    """Values left by an earlier run would be summed into this one's."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


@contextmanager
def metrics_served(settings: Settings, host: str) -> Iterator[None]:
    """For the life of the server: the metrics directory exported to the workers, and ``/metrics`` on
    ``IDENTITY_METRICS_PORT`` of ``host``. Nothing with the port 0."""
    if settings.metrics_port == 0:
        yield
        return
    made = not settings.metrics_dir
    directory = settings.metrics_dir or tempfile.mkdtemp(prefix="identity-metrics-")
    try:
        server = ThreadingHTTPServer((host, settings.metrics_port), _handler(directory))
    except OSError as error:
        if made:
            shutil.rmtree(directory, ignore_errors=True)
        if settings.is_prod:  # a server that cannot be watched is a configuration error
            raise SystemExit(f"error: cannot serve metrics on {host}:{settings.metrics_port}: {error}") from None
        # dev: a second server on this machine, say; it serves without its metrics
        log.warning("no metrics: cannot serve them on %s:%s (%s)", host, settings.metrics_port, error)
        yield
        return
    _prepare(directory)
    os.environ[METRICS_DIR_ENV] = directory  # the workers' settings read it
    os.environ[PROMETHEUS_DIR_ENV] = directory
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        if made:
            shutil.rmtree(directory, ignore_errors=True)
