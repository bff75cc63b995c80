"""Summarise a py-spy ``--format raw --function`` profile (collapsed stacks: ``frame;frame;... count``).

Gives, as percentages of the samples: the top frames by self time (the leaf) and by total time (anywhere
in the stack), self time by library, and the inclusive share of the steps of one request that we care
about (tenant lookup, AuthorizationServer construction, client lookup, signing, commit, ...).

py-spy leaves out threads it sees as idle, but not every wait looks idle to it: a worker thread parked
on the anyio queue (``Condition.wait``) or uvloop's ``run_forever`` (``Runner.run``) shows up. Those are
reported as "waiting (thread pool / event loop)" and left out of the "busy" denominator; psycopg's socket
wait (``Connection.wait``) is kept apart as "waiting for PostgreSQL".

usage: python bench/profsum.py profile.raw [token|userinfo|discovery]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

_LINE = re.compile(r":\d+\)$")
# with --subprocesses each stack starts with the process chain: process PID:"cmdline";process PID:"...";
_PROCS = re.compile(r'^((?:process \d+:"[^"]*";?)*)(.*)$')

# (category, regex on the leaf frame), first match wins
LEAF_CATEGORIES = [
    ("waiting for PostgreSQL (psycopg socket wait)", r"\(psycopg/(connection|waiting)\.py\)$|^wait(_c)? \(psycopg"),
    (
        "waiting (thread pool / event loop)",
        r"^(Condition\.wait|Queue\.get|EpollSelector\.select|Event\.wait) |"
        r"^Runner\.run \(asyncio/runners\.py",
    ),
    ("psycopg (driver; in wall profiles incl. libpq send/recv)", r"\(psycopg/"),
    ("SQLAlchemy / SQLModel", r"\((sqlalchemy|sqlmodel)/"),
    ("JOSE sign/verify (joserfc, cryptography)", r"\((joserfc|cryptography|authlib/jose)/"),
    ("Authlib OAuth", r"\(authlib/"),
    ("Starlette", r"\(starlette/"),
    ("uvicorn / HTTP parsing", r"\((uvicorn|httptools|h11)/"),
    ("anyio / asyncio / threads", r"\((anyio|asyncio|concurrent)/|\((threading|queue|selectors|contextvars)\.py"),
    ("json", r"\(json/"),
    ("our code (identity/, tenants/)", r"\((identity|tenants)/"),
    ("multipart / form parsing", r"\((multipart|python_multipart)/"),
]

# inclusive: (label, regex on any frame of the stack)
STEPS = {
    "token": [
        ("whole request in the thread pool (in_transaction)", r"^in_transaction\.<locals>\.run "),
        ("resolve_tenant (SELECT tenants)", r"^resolve_tenant "),
        ("AuthorizationServer.__init__ (register grants)", r"^AuthorizationServer\.__init__ \(identity/oauth/server"),
        ("client authentication (find_client + HMAC)", r"^AuthorizationServer\.authenticate_client "),
        ("  of which find_client (SELECT clients)", r"^find_client "),
        ("issue_tokens (build + sign the JWT)", r"^AuthorizationServer\.issue_tokens "),
        ("  of which jwt.encode", r"^encode \(joserfc/jwt\.py"),
        ("  of which the key's sign()", r"\.sign \(joserfc/"),
        ("KeyCache.get", r"^KeyCache\.get "),
        ("session_scope commit (COMMIT)", r"^Session\.commit "),
        ("connection checkout (pool, pre-ping)", r"^_ConnectionFairy\._checkout "),
        ("  of which pre-ping", r"ping"),
        ("new PostgreSQL connections (connect)", r"^(BaseConnection\._connect_gen|Connection\.connect) "),
        ("form parsing (request.form)", r"^Request\._get_form "),
        ("JSON response (json_response)", r"^json_response "),
        ("PlainOAuth2Request construction", r"^PlainOAuth2Request\.__init__ "),
    ],
    "discovery": [
        ("whole request in the thread pool (in_transaction)", r"^in_transaction\.<locals>\.run "),
        ("resolve_tenant (SELECT tenants)", r"^resolve_tenant "),
        ("known_scopes (SELECT tenant_scopes)", r"^known_scopes "),
        ("json.dumps of the document", r"^dumps \(json/"),
        ("cached_json (ETag = SHA-256 of the body)", r"^cached_json "),
        ("session_scope commit (COMMIT)", r"^Session\.commit "),
        ("connection checkout (pool, pre-ping)", r"^_ConnectionFairy\._checkout "),
        ("  of which pre-ping", r"ping"),
        ("new PostgreSQL connections (connect)", r"^(BaseConnection\._connect_gen|Connection\.connect) "),
    ],
    "userinfo": [
        ("whole request in the thread pool (in_transaction)", r"^in_transaction\.<locals>\.run "),
        ("resolve_tenant (SELECT tenants)", r"^resolve_tenant "),
        ("KeyCache.get", r"^KeyCache\.get "),
        ("verify_access_token (JWT verify)", r"^verify_access_token "),
        ("  of which jwt.decode", r"^decode \(joserfc/jwt\.py"),
        ("  of which the key's verify()", r"\.verify \(joserfc/"),
        ("is_grant_revoked (SELECT grants)", r"^is_grant_revoked "),
        ("active_user (SELECT users)", r"^active_user "),
        ("user_claims", r"^user_claims "),
        ("session_scope commit (COMMIT)", r"^Session\.commit "),
        ("connection checkout (pool, pre-ping)", r"^_ConnectionFairy\._checkout "),
        ("  of which pre-ping", r"ping"),
        ("new PostgreSQL connections (connect)", r"^(BaseConnection\._connect_gen|Connection\.connect) "),
        ("JSON response (json_response)", r"^json_response "),
    ],
}

IDLE = "waiting (thread pool / event loop)"


def _split(stack: str) -> tuple[int, list[str]]:
    """(depth of the process chain, frames). Depth 1 is the uvicorn master (supervising), 2 a worker."""
    m = _PROCS.match(stack)
    procs, rest = (m.group(1), m.group(2)) if m else ("", stack)
    frames = [_LINE.sub(")", f) for f in rest.split(";") if f and not f.startswith("thread ")]
    return procs.count("process "), frames


def category(leaf: str) -> str:
    for name, pattern in LEAF_CATEGORIES:
        if re.search(pattern, leaf):
            return name
    return "other (stdlib, C extensions)"


def summarise(raw: str, kind: str = "token", top: int = 20) -> dict[str, Any]:
    stacks: list[tuple[list[str], int]] = []
    master = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        depth, frames = _split(stack)
        if depth == 1:  # the uvicorn supervisor, not serving requests
            master += int(count)
            continue
        stacks.append((frames, int(count)))
    total = sum(n for _, n in stacks)
    cats: Counter[str] = Counter()
    for frames, n in stacks:
        cats[category(frames[-1] if frames else "?")] += n
    busy = total - cats[IDLE]
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, n in stacks:
        if not frames or category(frames[-1]) == IDLE:
            continue
        if any(fr.startswith("WorkerThread.run ") for fr in frames):
            threads["thread pool (the endpoint's work(session): ORM, driver, Authlib, signing)"] += n
        elif any(fr.startswith("Runner.run ") for fr in frames):
            threads["event loop (uvicorn, Starlette routing/middleware, form parsing, response)"] += n
        else:
            threads["other threads"] += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
        for label, pattern in STEPS.get(kind, []):
            if any(re.search(pattern, f) for f in frames):
                steps[label] += n

    def share(n: int, d: int) -> float:
        return round(100.0 * n / d, 1) if d else 0.0

    skip_total = re.compile(
        r"^(Thread\._bootstrap|WorkerThread\.run|BaseProcess|spawn_main|_main \(multiprocessing|"
        r"Process\.target|subprocess_started|<module>|run \(threading|Runner\.run|asyncio_run|"
        r"Server\.run|RequestResponseCycle\.run_asgi|ProxyHeadersMiddleware|Starlette\.__call__|"
        r"ExceptionMiddleware|ServerErrorMiddleware|Router\.|wrap_app_handling|Mount\.handle|"
        r"Route\.handle|request_response|Handle\._run|run_in_threadpool|run_sync|"
        r"in_transaction\.<locals>\.run |_StateChange|Session\._execute_internal|Session\.exec |"
        r"Connection\._execute_clauseelement|ClauseElement\._execute_on_connection|"
        r"Connection\._execute_context|Connection\._exec_single_context|DefaultDialect\.do_execute)"
    )
    return {
        "samples": total,
        "master_samples_skipped": master,
        "busy_samples": busy,
        "by_library_self_pct_of_all": {k: share(v, total) for k, v in cats.most_common()},
        "top_self_pct_of_busy": [(f, share(n, busy)) for f, n in self_c.most_common(top)],
        "top_total_pct_of_busy": [
            (f, share(n, busy)) for f, n in incl.most_common(top * 3) if not skip_total.search(f)
        ][:top],
        "by_thread_pct_of_busy": [(k, share(v, busy)) for k, v in threads.most_common()],
        "steps_pct_of_busy": [(label, share(steps[label], busy)) for label, _ in STEPS.get(kind, [])],
    }


def render_markdown(summary: dict[str, Any], title: str) -> str:
    lines = [
        f"#### {title}",
        "",
        f"{summary['samples']} samples, {summary['busy_samples']} busy "
        f"(load during profiling: {summary.get('load', {}).get('rps', '?')} req/s, "
        f"non-2xx {summary.get('load', {}).get('non2xx', '?')})",
        "",
    ]
    lines += ["| where (leaf frame's library) | % of all samples |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary["by_library_self_pct_of_all"].items()]
    lines += ["", "| thread | % of busy samples |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary.get("by_thread_pct_of_busy", [])]
    lines += ["", "| step of the request (inclusive) | % of busy samples |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary["steps_pct_of_busy"]]
    lines += ["", "| top frames by self time | % busy |", "|---|---:|"]
    lines += [f"| `{f}` | {v} |" for f, v in summary["top_self_pct_of_busy"][:12]]
    lines += ["", "| top frames by total time | % busy |", "|---|---:|"]
    lines += [f"| `{f}` | {v} |" for f, v in summary["top_total_pct_of_busy"][:15]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = open(sys.argv[1]).read()
    s = summarise(text, sys.argv[2] if len(sys.argv) > 2 else "token")
    print(render_markdown(s, sys.argv[1]))
