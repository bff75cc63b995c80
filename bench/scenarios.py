"""Our own benchmark scenarios, driven by bench/run.sh (each subcommand writes one JSON file).

    setup-login   full login with consent (remembered afterwards), a real user access token
    userinfo      wrk on GET /userinfo vs GET discovery, alternating rounds, CPU per request
    wrk           one wrk run with the latency distribution (the plot's curves)
    login         scripted password logins at concurrency C for a bounded time
    argon2        argon2id verifications/s in a process pool, nothing else running
    memory        RSS/PSS of the uvicorn worker processes
    profile       py-spy on the server under wrk load, summarised by profsum.py
    dbcount       statements per request, from PostgreSQL's statement log (server run with log_statement=all)
    sweep         touch every tenant once (jwks + client_credentials token), bounded in time

Every load is bounded in time and refuses non-loopback targets. Only the standard library, aiohttp (the
login client), httpx and psycopg are needed (plus the project itself for ``argon2``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import ipaddress
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_latency.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- helpers ---------------------------------------------------------------------------------------


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        sys.exit(f"scenarios: refusing non-loopback target {url!r}")
    return url


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    print(f"scenarios: wrote {path}", file=sys.stderr)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def parse_seconds(value: str) -> float:
    value = str(value).strip()
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    if value.endswith("s"):
        return float(value[:-1])
    if value.endswith("m"):
        return float(value[:-1]) * 60
    return float(value)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (Linux /proc)."""
    seen: list[int] = []
    queue = [root]
    while queue:
        pid = queue.pop()
        if pid in seen or not Path(f"/proc/{pid}").exists():
            continue
        seen.append(pid)
        queue += _children(pid)
    return seen


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for root in pids:
        for pid in tree_pids(root):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_pids(master: int) -> list[int]:
    """The uvicorn worker processes: the master's children, without the multiprocessing resource tracker
    and the password service (identity.password_service, whose processes are reported on their own)."""
    out = [
        pid
        for pid in _children(master)
        if "resource_tracker" not in _cmdline(pid) and "identity.password_service" not in _cmdline(pid)
    ]
    return out or [master]


def password_service_pids(master: int) -> list[int]:
    """The password service and its verifying processes (started by `identity serve --workers N`, N > 1)."""
    services = [pid for pid in _children(master) if "identity.password_service" in _cmdline(pid)]
    return [pid for service in services for pid in tree_pids(service) if "resource_tracker" not in _cmdline(pid)]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        raise FlowError(f"no hidden field {name!r} in page")
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- wrk -------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    name: str
    rps: float
    p50: float
    p99: float
    requests: int
    non2xx: int
    sockerr: int
    cpu_us_per_req: float | None
    percentiles: dict[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.non2xx == 0 and self.sockerr == 0 and self.requests > 0


def run_wrk(
    name: str,
    url: str,
    *,
    method: str = "GET",
    body: str = "",
    auth: str = "",
    duration: str = "10s",
    conns: int = 32,
    threads: int = 1,
    warmup: str = "2s",
    server_pids: list[int] | None = None,
) -> WrkResult:
    loopback_only(url)
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": body, "WRK_AUTH": auth}
    base = ["wrk", f"-t{threads}", f"-c{conns}", "-s", str(LUA)]
    bound = parse_seconds(duration) + 30
    if warmup not in {"0", "0s", ""}:
        subprocess.run([*base, f"-d{warmup}", url], env=env, capture_output=True, timeout=bound)
    t0 = cpu_ticks(server_pids or [])
    out = subprocess.run(
        [*base, f"-d{duration}", "--timeout", "10s", url], env=env, capture_output=True, text=True, timeout=bound
    )
    t1 = cpu_ticks(server_pids or [])
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKRESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk failed for {name}: {out.stdout}\n{out.stderr}")
    _, rps, p50, p99, reqs, non2xx, sockerr = line.split()
    percentiles = {}
    for ln in out.stdout.splitlines():
        if ln.startswith("WRKPCT"):
            _, p, ms = ln.split()
            percentiles[p] = float(ms)
    requests = int(reqs)
    cpu = (t1 - t0) / CLK_TCK * 1e6 / requests if server_pids and requests else None
    result = WrkResult(name, float(rps), float(p50), float(p99), requests, int(non2xx), int(sockerr), cpu, percentiles)
    print(
        f"  {name:<24} {result.rps:9.1f} req/s  p50 {result.p50:8.2f} ms  p99 {result.p99:8.2f} ms  "
        f"non2xx {result.non2xx}  sockerr {result.sockerr}  cpu {cpu or 0:7.0f} us/req",
        file=sys.stderr,
    )
    return result


def basic(client_id: str, secret: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def cmd_wrk(args: argparse.Namespace) -> None:
    pids = [int(p) for p in args.server_pids.split()] if args.server_pids else None
    r = run_wrk(
        args.name,
        args.url,
        method=args.method,
        body=args.body,
        auth=args.auth,
        duration=args.duration,
        conns=args.conns,
        warmup=args.warmup,
        server_pids=pids,
    )
    write_json(args.out, {**r.__dict__, "valid": r.valid, "loadavg": loadavg()})


# -- the login flow over plain HTTP ----------------------------------------------------------------


class FlowError(Exception):
    def __init__(self, message: str, step: str = "?", status: int | None = None) -> None:
        super().__init__(message)
        self.step, self.status = step, status


@dataclass
class Fixture:
    issuer: str
    web_id: str
    web_secret: str
    redirect_uri: str
    email: str
    password: str
    m2m_id: str = ""
    m2m_secret: str = ""

    @classmethod
    def load(cls, path: str) -> Fixture:
        data = read_json(path)
        return cls(
            issuer=loopback_only(data["issuer"]),
            web_id=data["web"]["client_id"],
            web_secret=data["web"]["client_secret"],
            redirect_uri=data["web"]["redirect_uri"],
            email=data["user"]["email"],
            password=data["user"]["password"],
            m2m_id=data.get("m2m", {}).get("client_id", ""),
            m2m_secret=data.get("m2m", {}).get("client_secret", ""),
        )


SCOPE = "openid profile email offline_access"


async def login_flow(http: Any, fx: Fixture, *, allow_consent: bool, timings: dict[str, float] | None = None) -> dict:
    """authorize -> login page -> POST credentials -> (consent) -> code -> token. Fresh browser each time."""
    http.cookies.clear()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": fx.web_id,
        "redirect_uri": fx.redirect_uri,
        "scope": SCOPE,
        "state": state,
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }

    def mark(step: str, t0: float) -> float:
        t = time.perf_counter()
        if timings is not None:
            timings[step] = (t - t0) * 1000
        return t

    t = time.perf_counter()
    r = await http.get(f"{fx.issuer}/authorize?" + urlencode(params))
    if r.status_code != 302:
        raise FlowError(f"authorize answered {r.status_code}", "authorize", r.status_code)
    location = r.headers["location"]
    if "/login?" not in location:
        raise FlowError(f"authorize did not ask to sign in: {location[:80]}", "authorize", r.status_code)
    t = mark("authorize", t)
    page = await http.get(loopback_only(location))
    if page.status_code != 200:
        raise FlowError(f"login page answered {page.status_code}", "login_page", page.status_code)
    t = mark("login_page", t)
    r = await http.post(
        f"{fx.issuer}/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "email": fx.email,
            "password": fx.password,
        },
    )
    if r.status_code != 303:
        raise FlowError(f"login POST answered {r.status_code}", "login_post", r.status_code)
    location = r.headers["location"]
    t = mark("login_post", t)
    if "/consent?" in location:
        if not allow_consent:
            raise FlowError("consent was not remembered", "login_post", r.status_code)
        page = await http.get(loopback_only(location))
        r = await http.post(
            f"{fx.issuer}/consent",
            data={
                "csrf_token": hidden(page.text, "csrf_token"),
                "flow": hidden(page.text, "flow"),
                "decision": "approve",
                "scope": SCOPE.split(),
            },
        )
        if r.status_code != 303:
            raise FlowError(f"consent POST answered {r.status_code}", "consent", r.status_code)
        location = r.headers["location"]
        t = mark("consent", t)
    if not location.startswith(fx.redirect_uri):
        raise FlowError(f"not sent back to the client: {location[:80]}", "login_post")
    back = query_of(location)
    if back.get("state") != state or "code" not in back:
        raise FlowError(f"bad authorization response {sorted(back)}", "login_post")
    r = await http.post(
        f"{fx.issuer}/token",
        auth=(fx.web_id, fx.web_secret),
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": fx.redirect_uri,
            "code_verifier": verifier,
        },
    )
    if r.status_code != 200:
        raise FlowError(f"token answered {r.status_code}: {r.text[:120]}", "token", r.status_code)
    mark("token", t)
    tokens = r.json()
    if "access_token" not in tokens or "id_token" not in tokens:
        raise FlowError("token response without access_token/id_token", "token", r.status_code)
    return tokens


class _Reply:
    """What the flows read of a response: status, headers, body text."""

    __slots__ = ("headers", "status_code", "text")

    def __init__(self, status_code: int, headers: Any, text: str) -> None:
        self.status_code, self.headers, self.text = status_code, headers, text

    def json(self) -> Any:
        return json.loads(self.text)


class LoadClient:
    """aiohttp behind the few calls of httpx's interface the flows make (``get``, ``post``, ``cookies``).

    The load client shares the server's 2 cores, so what it costs is taken from the server: httpx (pure
    Python HTTP/1.1) used ~11 ms of CPU per login here, aiohttp (C parser) a fraction of that. A fresh
    client per simulated user; cookies are kept per client (``unsafe``: the issuer is an IP address)."""

    def __init__(self) -> None:
        import aiohttp  # noqa: PLC0415

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=30)
        )
        self.cookies = self._session.cookie_jar

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def get(self, url: str, headers: dict[str, str] | None = None) -> _Reply:
        return await self._send("GET", url, headers=headers)

    async def post(
        self, url: str, data: dict[str, Any], auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> _Reply:
        fields = [(k, item) for k, v in data.items() for item in (v if isinstance(v, list) else [v])]
        if auth:  # client_secret_basic (RFC 6749 2.3.1: each part form-encoded first)
            pair = ":".join(quote(part, safe="") for part in auth).encode()
            headers = {**(headers or {}), "Authorization": "Basic " + base64.b64encode(pair).decode()}
        return await self._send("POST", url, data=fields, headers=headers)

    async def _send(self, method: str, url: str, **kw: Any) -> _Reply:
        async with self._session.request(method, url, allow_redirects=False, **kw) as r:
            return _Reply(r.status, r.headers, await r.text())


def new_http() -> LoadClient:
    return LoadClient()


def cmd_setup_login(args: argparse.Namespace) -> None:
    """One full login with consent, so later logins find it remembered; keeps the user's access token."""
    fx = Fixture.load(args.fixture)

    async def main() -> dict:
        async with new_http() as http:
            tokens = await login_flow(http, fx, allow_consent=True)
            again = await login_flow(http, fx, allow_consent=False)  # proves consent is remembered
            r = await http.get(f"{fx.issuer}/userinfo", headers={"Authorization": f"Bearer {again['access_token']}"})
            if r.status_code != 200:
                raise FlowError(f"userinfo answered {r.status_code}: {r.text[:200]}", "userinfo", r.status_code)
            header = json.loads(base64.urlsafe_b64decode(again["access_token"].split(".")[0] + "=="))
            return {
                "access_token": again["access_token"],
                "token_alg": header.get("alg"),
                "userinfo": r.json(),
                "first_scope": tokens.get("scope"),
            }

    result = asyncio.run(main())
    print(
        f"scenarios: login flow OK, userinfo {result['userinfo']}, access token {result['token_alg']}", file=sys.stderr
    )
    write_json(args.out, result)


# -- userinfo vs discovery -------------------------------------------------------------------------


def cmd_userinfo(args: argparse.Namespace) -> None:
    fx = Fixture.load(args.fixture)
    token = read_json(args.token_file)["access_token"]
    pids = [int(p) for p in args.server_pids.split()]
    shapes = {
        "discovery": dict(url=f"{fx.issuer}/.well-known/openid-configuration"),
        "userinfo": dict(url=f"{fx.issuer}/userinfo", auth=f"Bearer {token}"),
    }
    runs: dict[str, list[WrkResult]] = {k: [] for k in shapes}
    for r in range(1, args.rounds + 1):
        order = list(shapes) if r % 2 else list(reversed(shapes))
        for name in order:
            runs[name].append(
                run_wrk(
                    name, duration=args.duration, conns=args.conns, warmup=args.warmup, server_pids=pids, **shapes[name]
                )
            )  # type: ignore[arg-type]
    summary = {}
    for name, results in runs.items():
        valid = [x for x in results if x.valid]
        summary[name] = {
            "rounds": len(results),
            "valid_rounds": len(valid),
            "rps": statistics.median(x.rps for x in valid) if valid else None,
            "p50": statistics.median(x.p50 for x in valid) if valid else None,
            "p99": statistics.median(x.p99 for x in valid) if valid else None,
            "cpu_us_per_req": statistics.median(x.cpu_us_per_req or 0 for x in valid) if valid else None,
            "non2xx": sum(x.non2xx for x in results),
            "sockerr": sum(x.sockerr for x in results),
            "runs": [x.__dict__ for x in results],
        }
    u, d = summary["userinfo"], summary["discovery"]
    ratios = {}
    if u["rps"] and d["rps"]:
        ratios = {
            "rps_userinfo_over_discovery": u["rps"] / d["rps"],
            "cost_per_request_userinfo_over_discovery_wall": d["rps"] / u["rps"],
            "cpu_per_request_userinfo_over_discovery": (u["cpu_us_per_req"] / d["cpu_us_per_req"])
            if d["cpu_us_per_req"]
            else None,
            "p50_ratio": u["p50"] / d["p50"],
            "p99_ratio": u["p99"] / d["p99"],
        }
    write_json(
        args.out,
        {"summary": summary, "ratios": ratios, "conns": args.conns, "duration": args.duration, "loadavg": loadavg()},
    )


# -- password login under load ---------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> None:
    fx = Fixture.load(args.fixture)
    duration, warmup = parse_seconds(args.duration), parse_seconds(args.warmup)
    pids = [int(p) for p in args.server_pids.split()] if args.server_pids else []

    async def main() -> dict:
        done: list[dict[str, Any]] = []
        errors: dict[str, int] = {}
        start = time.perf_counter()
        measure_from, deadline = start + warmup, start + warmup + duration
        ticks: dict[str, int] = {}

        async def user() -> None:
            async with new_http() as http:
                while time.perf_counter() < deadline:
                    timings: dict[str, float] = {}
                    t0 = time.perf_counter()
                    try:
                        await login_flow(http, fx, allow_consent=False, timings=timings)
                    except Exception as error:  # noqa: BLE001 - counted and reported
                        step = getattr(error, "step", type(error).__name__)
                        status = getattr(error, "status", None)
                        key = f"{step}:{status}" if status else f"{step}:{type(error).__name__}"
                        errors[key] = errors.get(key, 0) + 1
                        await asyncio.sleep(0.05)
                        continue
                    t1 = time.perf_counter()
                    done.append({"start": t0, "end": t1, "ms": (t1 - t0) * 1000, "steps": timings})

        async def cpu_marks() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            ticks["start"] = cpu_ticks(pids)
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
            ticks["end"] = cpu_ticks(pids)

        client_cpu0 = time.process_time()
        await asyncio.gather(cpu_marks(), *(user() for _ in range(args.concurrency)))
        client_cpu = time.process_time() - client_cpu0
        window = [d for d in done if measure_from <= d["end"] <= deadline]
        lat = [d["ms"] for d in window]
        steps = {}
        for step in ("authorize", "login_page", "login_post", "token"):
            values = [d["steps"][step] for d in window if step in d["steps"]]
            steps[step] = {"p50": pct(values, 50), "p99": pct(values, 99), "max": max(values or [0])}
        server_cpu_s = (ticks.get("end", 0) - ticks.get("start", 0)) / CLK_TCK if pids else None
        return {
            "concurrency": args.concurrency,
            "duration_s": duration,
            "warmup_s": warmup,
            "logins_in_window": len(window),
            "logins_per_s": len(window) / duration,
            "latency_ms": {
                "p50": pct(lat, 50),
                "p90": pct(lat, 90),
                "p99": pct(lat, 99),
                "max": max(lat or [0]),
                "min": min(lat or [0]),
            },
            "steps_ms": steps,
            # the target is per request: the slowest single HTTP request of any login in the window
            "slowest_request_ms": max((v["max"] for v in steps.values()), default=0),
            "errors": errors,
            "total_completed": len(done),
            "server_cpu_s_in_window": server_cpu_s,
            "server_cpu_ms_per_login": (server_cpu_s * 1000 / len(window)) if server_cpu_s and window else None,
            "client_cpu_s": client_cpu,
            "latencies_ms": lat,
            "loadavg": loadavg(),
        }

    result = asyncio.run(main())
    print(
        f"  login: {result['logins_per_s']:.2f} logins/s, p50 {result['latency_ms']['p50']:.0f} ms, "
        f"p99 {result['latency_ms']['p99']:.0f} ms, max {result['latency_ms']['max']:.0f} ms, "
        f"errors {result['errors']}",
        file=sys.stderr,
    )
    write_json(args.out, result)


# -- argon2 alone ----------------------------------------------------------------------------------


def _verify_loop(seconds: float, password: str, stored: str) -> tuple[int, float]:
    from identity.passwords import verify_password  # noqa: PLC0415

    verify_password(password, stored)  # warm (imports, first allocation)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if not verify_password(password, stored):
            raise RuntimeError("verify_password refused the right password")
        n += 1
    return n, time.perf_counter() - t0


def _verifications_per_s(workers: int, seconds: float, password: str, stored: str, env: dict[str, str]) -> float:
    """Verifications/s of a pool of fresh processes started with ``env`` (glibc reads its tunables at exec)."""
    import multiprocessing  # noqa: PLC0415

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_verify_loop, [seconds] * workers, [password] * workers, [stored] * workers))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return sum(n for n, _ in results) / max(t for _, t in results)


def cmd_argon2(args: argparse.Namespace) -> None:
    """argon2id alone, as the password service runs it (its processes' environment: huge pages) and plain.
    The login ratio uses the first: "the rate at which the same process can run the verification alone"."""
    from identity.password_service import verifier_environment  # noqa: PLC0415
    from identity.passwords import hash_password  # noqa: PLC0415

    password = "bench-argon2-password"
    stored = hash_password(password)
    seconds = parse_seconds(args.duration)
    plain_env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    as_service = _verifications_per_s(args.workers, seconds, password, stored, verifier_environment(plain_env))
    plain = _verifications_per_s(args.workers, seconds, password, stored, plain_env)
    result = {
        "workers": args.workers,
        "seconds_each": seconds,
        "verifications_per_s": as_service,
        "ms_per_verification_per_worker": 1000 * args.workers / as_service,
        "environment": verifier_environment(plain_env)["GLIBC_TUNABLES"],
        "plain_verifications_per_s": plain,
        "hash_params": stored.split("$")[3] if stored.count("$") >= 4 else "",
        "loadavg": loadavg(),
    }
    print(
        f"  argon2id alone: {as_service:.2f} verifications/s with {args.workers} processes as the password "
        f"service runs them ({result['environment']}), {plain:.2f} plain ({result['hash_params']})",
        file=sys.stderr,
    )
    write_json(args.out, result)


# -- memory ----------------------------------------------------------------------------------------


def rss_of(pid: int) -> dict[str, int]:
    out: dict[str, int] = {"pid": pid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0].lower() + "_kb"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_kb"] = int(line.split()[1])
    except OSError:
        pass
    return out


def cmd_memory(args: argparse.Namespace) -> None:
    master = int(args.server_pid)
    workers = [rss_of(p) for p in worker_pids(master)]
    service = [rss_of(p) for p in password_service_pids(master)]
    result = {
        "label": args.label,
        "master": rss_of(master),
        "workers": workers,
        "worker_rss_mb": [round(w.get("vmrss_kb", 0) / 1024, 1) for w in workers],
        "worker_pss_mb": [round(w.get("pss_kb", 0) / 1024, 1) for w in workers],
        "password_service_rss_mb": [round(w.get("vmrss_kb", 0) / 1024, 1) for w in service],
    }
    print(
        f"  memory [{args.label}]: workers RSS {result['worker_rss_mb']} MB, PSS {result['worker_pss_mb']} MB; "
        f"password service (process and verifiers) RSS {result['password_service_rss_mb']} MB",
        file=sys.stderr,
    )
    write_json(args.out, result)


# -- py-spy ----------------------------------------------------------------------------------------


def cmd_profile(args: argparse.Namespace) -> None:
    from profsum import summarise  # noqa: PLC0415 - bench/profsum.py

    loopback_only(args.url)
    seconds = parse_seconds(args.duration)
    out_dir = Path(args.out_dir)
    raw = out_dir / f"profile-{args.name}.raw"
    env = {**os.environ, "WRK_METHOD": args.method, "WRK_BODY": args.body, "WRK_AUTH": args.auth}
    load = subprocess.Popen(
        ["wrk", "-t1", f"-c{args.conns}", f"-d{int(seconds + 6)}s", "--timeout", "10s", "-s", str(LUA), args.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)  # let the load settle
        cmd = [
            args.py_spy,
            "record",
            "--pid",
            str(args.server_pid),
            "--subprocesses",
            "--duration",
            str(int(seconds)),
            "--rate",
            str(args.rate),
            "--function",
            "--format",
            "raw",
            "-o",
            str(raw),
        ]
        if args.gil:
            cmd.append("--gil")
        spy = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        wrk_out, _ = load.communicate(timeout=seconds + 40)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    line = next((ln for ln in wrk_out.splitlines() if ln.startswith("WRKRESULT")), "WRKRESULT 0 0 0 0 0 0")
    _, rps, p50, p99, reqs, non2xx, sockerr = line.split()
    summary = summarise(raw.read_text() if raw.exists() else "", args.kind)
    summary.update(
        {
            "name": args.name,
            "url": args.url,
            "gil_only": args.gil,
            "rate_hz": args.rate,
            "py_spy_stderr": spy.stderr.strip().splitlines()[-3:],
            "load": {
                "rps": float(rps),
                "p50": float(p50),
                "p99": float(p99),
                "requests": int(reqs),
                "non2xx": int(non2xx),
                "sockerr": int(sockerr),
            },
        }
    )
    write_json(out_dir / f"profile-{args.name}.json", summary)


# -- statements per request from the PostgreSQL log ------------------------------------------------

LOG_LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S*)@(\S*) LOG:  (statement|execute [^:]*): (.*)$")
MARK = "bench-marker:"


def statement_shape(sql: str) -> str:
    s = " ".join(sql.split())
    up = s.upper()
    if up.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
        return up.split()[0]
    if re.fullmatch(r"(SELECT 1)?;?", up.strip()):
        return "pre-ping ';'" if up.strip() in {";", ""} else "pre-ping SELECT 1"
    m = re.match(r"^(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b", up)
    if not m:
        return s[:60]
    verb = m.group(1).split()[0]
    if verb == "SELECT":
        t = re.search(r"\bFROM (\w+)", s, re.IGNORECASE)
    else:
        t = re.search(r"^(?:INSERT INTO|UPDATE|DELETE FROM) (\w+)", s, re.IGNORECASE)
    return f"{verb} {t.group(1) if t else '?'}"


def parse_pg_log(text: str) -> list[tuple[int, str]]:
    """(backend pid, statement) for each logged statement, continuation lines joined."""
    out: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            out.append((int(m.group(1)), m.group(5)))
        elif line.startswith(("\t", " ")) and out:
            pid, sql = out[-1]
            out[-1] = (pid, sql + " " + line.strip())
    return out


def cmd_dbcount(args: argparse.Namespace) -> None:
    import httpx  # noqa: PLC0415
    import psycopg  # noqa: PLC0415

    fx = Fixture.load(args.fixture)
    token = read_json(args.token_file)["access_token"]
    log_path = Path(args.pg_log)
    if not os.access(log_path, os.R_OK):
        write_json(args.out, {"error": f"cannot read {log_path}"})
        return
    marker = psycopg.connect(args.dsn, autocommit=True, options="-c log_statement=all", application_name="bench-marker")
    marker_pid = marker.info.backend_pid

    def mark(label: str) -> None:
        marker.execute(f"select '{MARK}{label}'")

    m2m = basic(fx.m2m_id, fx.m2m_secret)
    simple = {
        "discovery": lambda c: c.get(f"{fx.issuer}/.well-known/openid-configuration"),
        "jwks": lambda c: c.get(f"{fx.issuer}/.well-known/jwks.json"),
        "token_client_credentials": lambda c: c.post(
            f"{fx.issuer}/token",
            headers={"Authorization": m2m},
            data={"grant_type": "client_credentials", "scope": "api:read"},
        ),
        "userinfo": lambda c: c.get(f"{fx.issuer}/userinfo", headers={"Authorization": f"Bearer {token}"}),
    }
    start_offset = log_path.stat().st_size
    with httpx.Client(timeout=30) as client:
        for call in simple.values():  # warm: pools, caches
            for _ in range(3):
                call(client)
        for name, call in simple.items():
            mark(f"begin:{name}")
            for _ in range(args.n):
                r = call(client)
                if r.status_code != 200:
                    raise RuntimeError(f"{name} answered {r.status_code}")
            mark(f"end:{name}")

    async def logins() -> None:
        async with new_http() as http:
            await login_flow(http, fx, allow_consent=False)  # warm
            for _ in range(args.n):
                timings: dict[str, float] = {}
                mark("begin:login_flow")
                await login_flow(http, fx, allow_consent=False, timings=timings)
                mark("end:login_flow")

    asyncio.run(logins())
    # the steps one by one (markers between the requests of one flow)
    asyncio.run(_login_steps(fx, mark, args.n))
    # under concurrent load: statements per request, and backends (connections) opened during the window
    loads = {
        "token_client_credentials": dict(
            url=f"{fx.issuer}/token", method="POST", body="grant_type=client_credentials&scope=api:read", auth=m2m
        ),
        "userinfo": dict(url=f"{fx.issuer}/userinfo", auth=f"Bearer {token}"),
    }
    load_requests: dict[str, int] = {}
    for name, shape in loads.items():
        run_wrk(f"warm {name}", duration="2s", warmup="0", conns=args.conns, **shape)  # type: ignore[arg-type]
        mark(f"begin:load_{name}")
        r = run_wrk(f"load {name}", duration=args.load_duration, warmup="0", conns=args.conns, **shape)  # type: ignore[arg-type]
        mark(f"end:load_{name}")
        load_requests[f"load_{name}"] = r.requests
        if not r.valid:
            raise RuntimeError(f"{name} under load: {r.non2xx} non-2xx, {r.sockerr} socket errors")
    time.sleep(1.0)
    marker.close()
    with log_path.open("rb") as f:
        f.seek(start_offset)
        text = f.read().decode(errors="replace")
    statements = parse_pg_log(text)
    result: dict[str, Any] = {"n": args.n, "scenarios": {}}
    current: str | None = None
    counts: dict[str, dict[str, int]] = {}
    runs: dict[str, int] = {}
    seen_pids: set[int] = set()
    new_pids: dict[str, set[int]] = {}
    for pid, sql in statements:
        if pid != marker_pid and pid not in seen_pids:
            seen_pids.add(pid)
            if current is not None:
                new_pids.setdefault(current, set()).add(pid)
        if pid == marker_pid and MARK in sql:
            label = sql.split(MARK, 1)[1].split("'")[0]
            kind, name = label.split(":", 1)
            if kind == "begin":
                current = name
                runs[name] = runs.get(name, 0) + 1
            else:
                current = None
            continue
        if current is None or pid == marker_pid:
            continue
        shape = statement_shape(sql)
        counts.setdefault(current, {})
        counts[current][shape] = counts[current].get(shape, 0) + 1
    for name, shapes in counts.items():
        if name in load_requests:
            per = load_requests[name]
        else:
            per = runs.get(name, 1) * (args.n if name in simple else 1)  # one marker pair per batch / flow / step
        total = sum(shapes.values())
        result["scenarios"][name] = {
            "statements_per_request": total / per,
            "by_statement": {k: round(v / per, 2) for k, v in sorted(shapes.items(), key=lambda kv: -kv[1])},
            "requests": per,
        }
        if name in load_requests:
            opened = len(new_pids.get(name, ()))
            result["scenarios"][name]["new_connections"] = opened
            result["scenarios"][name]["new_connections_per_1000_requests"] = round(1000 * opened / per, 1)
    for name in list(simple) + ["login_flow"]:
        result["scenarios"].setdefault(name, {"statements_per_request": 0, "by_statement": {}})
    print(
        "  statements per request: "
        + ", ".join(f"{k} {v['statements_per_request']:.1f}" for k, v in result["scenarios"].items()),
        file=sys.stderr,
    )
    write_json(args.out, result)


async def _login_steps(fx: Fixture, mark: Any, n: int) -> None:
    """The login flow with a marker around each request, so each step's statements are counted apart."""
    async with new_http() as http:
        for _ in range(n):
            http.cookies.clear()
            verifier, challenge = pkce_pair()
            params = {
                "response_type": "code",
                "client_id": fx.web_id,
                "redirect_uri": fx.redirect_uri,
                "scope": SCOPE,
                "state": "s",
                "nonce": "n",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            mark("begin:step_authorize")
            r = await http.get(f"{fx.issuer}/authorize?" + urlencode(params))
            mark("end:step_authorize")
            mark("begin:step_login_page")
            page = await http.get(r.headers["location"])
            mark("end:step_login_page")
            mark("begin:step_login_post")
            r = await http.post(
                f"{fx.issuer}/login",
                data={
                    "csrf_token": hidden(page.text, "csrf_token"),
                    "flow": hidden(page.text, "flow"),
                    "email": fx.email,
                    "password": fx.password,
                },
            )
            mark("end:step_login_post")
            code = query_of(r.headers["location"])["code"]
            mark("begin:step_token_code")
            r = await http.post(
                f"{fx.issuer}/token",
                auth=(fx.web_id, fx.web_secret),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": fx.redirect_uri,
                    "code_verifier": verifier,
                },
            )
            mark("end:step_token_code")
            if r.status_code != 200:
                raise RuntimeError(f"token answered {r.status_code}")


# -- every tenant once -----------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace) -> None:
    data = read_json(args.tenants_file)
    base = loopback_only(args.base_url.rstrip("/"))
    tenants = data["tenants"]
    budget = parse_seconds(args.max_seconds)

    async def main() -> dict:
        queue: asyncio.Queue = asyncio.Queue()
        for t in tenants:
            queue.put_nowait(t)
        errors: dict[str, int] = {}
        touched = 0
        t0 = time.perf_counter()

        async def worker() -> None:
            nonlocal touched
            async with new_http() as http:
                while not queue.empty() and time.perf_counter() - t0 < budget:
                    t = queue.get_nowait()
                    iss = f"{base}/t/{t['slug']}"
                    r1 = await http.get(f"{iss}/.well-known/jwks.json")
                    r2 = await http.post(
                        f"{iss}/token",
                        headers={"Authorization": basic(t["m2m_id"], t["m2m_secret"])},
                        data={"grant_type": "client_credentials"},
                    )
                    for step, r in (("jwks", r1), ("token", r2)):
                        if r.status_code != 200:
                            errors[f"{step}:{r.status_code}"] = errors.get(f"{step}:{r.status_code}", 0) + 1
                    touched += 1

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t0
        return {
            "tenants_total": len(tenants),
            "tenants_touched": touched,
            "seconds": elapsed,
            "tenants_per_s": touched / elapsed if elapsed else 0,
            "errors": errors,
            "complete": touched == len(tenants),
        }

    result = asyncio.run(main())
    print(
        f"  sweep: {result['tenants_touched']}/{result['tenants_total']} tenants in {result['seconds']:.0f} s, "
        f"errors {result['errors']}",
        file=sys.stderr,
    )
    write_json(args.out, result)


# -- CLI -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("setup-login")
    s.add_argument("--fixture", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_setup_login)

    s = sub.add_parser("userinfo")
    s.add_argument("--fixture", required=True)
    s.add_argument("--token-file", required=True)
    s.add_argument("--server-pids", required=True)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--duration", default="10s")
    s.add_argument("--warmup", default="2s")
    s.add_argument("--conns", type=int, default=32)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_userinfo)

    s = sub.add_parser("wrk")
    s.add_argument("--name", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--method", default="GET")
    s.add_argument("--body", default="")
    s.add_argument("--auth", default="")
    s.add_argument("--duration", default="10s")
    s.add_argument("--warmup", default="2s")
    s.add_argument("--conns", type=int, default=32)
    s.add_argument("--server-pids", default="")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_wrk)

    s = sub.add_parser("login")
    s.add_argument("--fixture", required=True)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--duration", default="20s")
    s.add_argument("--warmup", default="3s")
    s.add_argument("--server-pids", default="")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_login)

    s = sub.add_parser("argon2")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--duration", default="10s")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_argon2)

    s = sub.add_parser("memory")
    s.add_argument("--server-pid", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_memory)

    s = sub.add_parser("profile")
    s.add_argument("--name", required=True)
    s.add_argument("--kind", default="token", choices=["token", "userinfo", "discovery"])
    s.add_argument("--url", required=True)
    s.add_argument("--method", default="GET")
    s.add_argument("--body", default="")
    s.add_argument("--auth", default="")
    s.add_argument("--conns", type=int, default=32)
    s.add_argument("--duration", default="15s")
    s.add_argument("--rate", type=int, default=100)
    s.add_argument("--gil", action="store_true")
    s.add_argument("--server-pid", required=True)
    s.add_argument("--py-spy", default="py-spy")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=cmd_profile)

    s = sub.add_parser("dbcount")
    s.add_argument("--fixture", required=True)
    s.add_argument("--token-file", required=True)
    s.add_argument("--dsn", required=True)
    s.add_argument("--pg-log", required=True)
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--conns", type=int, default=32)
    s.add_argument("--load-duration", default="3s")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_dbcount)

    s = sub.add_parser("sweep")
    s.add_argument("--tenants-file", required=True)
    s.add_argument("--base-url", required=True)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--max-seconds", default="180s")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sweep)

    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
