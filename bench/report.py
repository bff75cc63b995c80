"""Assemble bench/results/report-<stamp>.md (and the latency-percentile PNG) from one run's directory.

usage: python bench/report.py RUN_DIR REPORT.md
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profsum import render_markdown  # noqa: E402


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def f(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) else str(x)


# -- the plot --------------------------------------------------------------------------------------


def _x(p: float) -> float:
    return -math.log10(1 - min(p, 99.999) / 100)


def plot(run: Path, png: Path) -> bool:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    curves = []
    for fpath in sorted(run.glob("curve-*.json")):
        d = load(fpath)
        if d and d.get("percentiles"):
            curves.append((d["name"], d["percentiles"]))
    ui = load(run / "userinfo.json")
    if ui:
        for name in ("discovery", "userinfo"):
            runs = ui["summary"][name]["runs"]
            if runs and runs[-1].get("percentiles"):
                curves.append((f"ours {name} (last round)", runs[-1]["percentiles"]))
    login = load(run / "login.json")
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    ticks = [0, 50, 90, 99, 99.9, 99.99]
    ax = axes[0]
    for name, pcts in curves:
        pts = sorted((float(p), v) for p, v in pcts.items() if 0 < float(p) < 100)
        style = "--" if name.startswith("peer") else "-"
        ax.plot([_x(p) for p, _ in pts], [v for _, v in pts], style, marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xticks([_x(t) for t in ticks], [f"{t:g}" for t in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("wrk, 32 connections, closed loop (ours solid, peer dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax = axes[1]
    series = []
    if login and login.get("latencies_ms"):
        series.append(("acme: full login (5 requests)", login["latencies_ms"]))
    many_login = load(run / "many" / "login.json")
    if many_login and many_login.get("latencies_ms"):
        series.append(("many tenants: full login", many_login["latencies_ms"]))
    for name, values in series:
        ordered = sorted(values)
        n = len(ordered)
        pts = [(100 * (i + 0.5) / n, v) for i, v in enumerate(ordered)]
        ax.plot([_x(p) for p, _ in pts], [v for _, v in pts], label=f"{name}, n={n}")
    ax.set_xticks([_x(t) for t in ticks[:4]], [f"{t:g}" for t in ticks[:4]])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"scripted password login, concurrency {login.get('concurrency') if login else '?'}")
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return True


# -- sections --------------------------------------------------------------------------------------


def raw_rows(path: Path) -> list[list[str]]:
    return [ln.split() for ln in text(path).splitlines() if ln.strip()]


def compare_section(run: Path, alg: str) -> list[str]:
    out = [f"### {alg} on both sides", ""]
    table = text(run / f"compare-{alg}.txt").rstrip()
    if not table:
        return out + ["(not run)", ""]
    out += ["As printed by `../shared/bench/compare.sh`:", "", "```", table, "```", ""]
    check = text(run / f"alg-check-{alg}.txt").strip()
    if check:
        out += [f"Access-token header check: `{check}`", ""]
    rows = raw_rows(run / f"compare-{alg}.raw")
    if rows:
        out += [
            "Per round (raw lines; cpu = server CPU µs per request from OURS_PIDS/PEER_PIDS):",
            "",
            "| side | scenario | req/s | p50 ms | p99 ms | non-2xx | sock err | cpu µs/req |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            if len(r) >= 8:
                out.append("| " + " | ".join(r[:8]) + " |")
        cpu: dict[tuple[str, str], list[float]] = {}
        for r in rows:
            if len(r) >= 8 and r[7] not in {"-", "n/a"}:
                cpu.setdefault((r[0], r[1]), []).append(float(r[7]))
        scen = sorted({k[1] for k in cpu}, key=["discovery", "jwks", "token"].index)
        if scen:
            out += [
                "",
                "| scenario | ours cpu µs/req (median) | peer cpu µs/req | ratio ours/peer |",
                "|---|---:|---:|---:|",
            ]
            for s in scen:
                o = statistics.median(cpu.get(("ours", s), [math.nan]))
                p = statistics.median(cpu.get(("peer", s), [math.nan]))
                out.append(f"| {s} | {o:.0f} | {p:.0f} | {o / p:.1f} |")
        out.append("")
    return out


def userinfo_section(run: Path) -> list[str]:
    ui = load(run / "userinfo.json")
    if not ui:
        return ["### userinfo vs discovery", "", "(not run)", ""]
    s, r = ui["summary"], ui["ratios"]
    out = [
        "### userinfo vs discovery (same wrk settings, alternating rounds)",
        "",
        f"wrk -c{ui['conns']} -d{ui['duration']}, medians of {s['userinfo']['rounds']} rounds; "
        "the access token came from a real authorize → login → consent → code → token flow.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx | sock err |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("discovery", "userinfo"):
        x = s[name]
        out.append(
            f"| {name} | {f(x['rps'])} | {f(x['p50'], 2)} | {f(x['p99'], 2)} | {f(x['cpu_us_per_req'], 0)} "
            f"| {x['non2xx']} | {x['sockerr']} |"
        )
    if r:
        out += [
            "",
            f"Cost per request userinfo/discovery: **{f(r['cost_per_request_userinfo_over_discovery_wall'], 2)}×** "
            "by throughput (discovery req/s ÷ userinfo req/s), "
            f"**{f(r['cpu_per_request_userinfo_over_discovery'], 2)}×** "
            f"by server CPU per request; p50 ratio {f(r['p50_ratio'], 2)}, p99 ratio {f(r['p99_ratio'], 2)}.",
        ]
    return out + [""]


def login_section(run: Path, sub: str = "") -> list[str]:
    base = run / sub if sub else run
    lg, ar = load(base / "login.json"), load(run / "argon2.json")
    if not lg:
        return ["(login scenario not run)", ""]
    lat = lg["latency_ms"]
    out = [
        f"Scripted client (aiohttp, no browser), concurrency {lg['concurrency']}, {lg['duration_s']:.0f} s measured "
        f"after {lg['warmup_s']:.0f} s warm-up; each login = GET /authorize → GET /login → POST /login "
        "(argon2id) → consent remembered → 303 with code → POST /token (code + PKCE).",
        "",
        "| logins/s | p50 ms | p90 ms | p99 ms | max ms | completed in window | errors | server CPU ms/login |",
        "|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| {f(lg['logins_per_s'], 2)} | {f(lat['p50'], 0)} | {f(lat['p90'], 0)} | {f(lat['p99'], 0)} | "
        f"{f(lat['max'], 0)} | {lg['logins_in_window']} | {lg['errors'] or 'none'} | "
        f"{f(lg.get('server_cpu_ms_per_login'), 0)} |",
        "",
        "| step (one HTTP request each) | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for step, v in lg["steps_ms"].items():
        out.append(f"| {step} | {f(v['p50'], 1)} | {f(v['p99'], 1)} | {f(v.get('max'), 1)} |")
    if "slowest_request_ms" in lg:
        out += [
            "",
            f"Slowest single step of any login in the window: **{f(lg['slowest_request_ms'], 0)} ms** "
            "(target: none over 2,000 ms at concurrency 16).",
        ]
    if ar and not sub:
        ratio = lg["logins_per_s"] / ar["verifications_per_s"] if ar["verifications_per_s"] else None
        plain = ar.get("plain_verifications_per_s")
        out += [
            "",
            f"argon2id alone (`identity.passwords.verify_password`, process pool of {ar['workers']}, "
            f"{ar['hash_params']}), started the way the password service starts its processes "
            f"(`GLIBC_TUNABLES={ar.get('environment', '')}`): **{f(ar['verifications_per_s'], 2)} "
            f"verifications/s** ({f(ar['ms_per_verification_per_worker'], 0)} ms each per process)"
            + (f"; plain processes (4 KiB pages): {f(plain, 2)}/s." if plain else "."),
            "",
            f"**Ratio logins/s ÷ argon2 verifications/s = {f(ratio, 2)}** (1.0 would mean the login flow costs "
            "nothing but its one password hash). The load client itself used "
            f"{f(lg['client_cpu_s'], 1)} s CPU over the run, on the same 2 cores.",
        ]
    return out + [""]


def curves_section(run: Path) -> list[str]:
    rows = []
    for fpath in sorted(run.glob("curve-*.json")):
        d = load(fpath)
        if not d:
            continue
        rows.append(
            f"| {d['name']} | {f(d['rps'])} | {f(d['p50'], 2)} | {f(d['p99'], 2)} | "
            f"{f(d['percentiles'].get('99.9'), 1)} | {f(d['percentiles'].get('100'), 1)} | {d['non2xx']} | "
            f"{d['sockerr']} | {f(d.get('cpu_us_per_req'), 0)} |"
        )
    if not rows:
        return []
    return [
        "### Token endpoint latency distribution (one extra wrk run per side and algorithm)",
        "",
        "| run | req/s | p50 ms | p99 ms | p99.9 ms | max ms | non-2xx | sock err | server cpu µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def dbcount_section(run: Path) -> list[str]:
    d = load(run / "dbcount.json")
    if not d:
        return ["(not run)", ""]
    if "error" in d:
        return [f"(not available: {d['error']})", ""]
    out = [
        f"Counted from PostgreSQL's own statement log (`log_statement=all` for the server's connections only, "
        f"via PGOPTIONS), {d['n']} sequential requests each, markers between scenarios. Each statement below "
        "is one client/server round trip (psycopg sends BEGIN separately).",
        "",
        "`load_*` rows: the same request under wrk load (32 connections); *new connections* counts PostgreSQL "
        "backends whose first statement fell inside the measured window (after a 2 s warm-up burst), i.e. "
        "connections the pool opened while already warm.",
        "",
        "| request | statements (= round trips) per request | new PG connections per 1000 req "
        "| breakdown per request |",
        "|---|---:|---:|---|",
    ]
    for name, v in d["scenarios"].items():
        parts = ", ".join(f"{k} ×{f(c, 2).rstrip('0').rstrip('.')}" for k, c in v["by_statement"].items())
        out.append(
            f"| {name} | {f(v['statements_per_request'], 1)} | "
            f"{f(v.get('new_connections_per_1000_requests'), 1) if 'new_connections' in v else ''} | {parts} |"
        )
    return out + [""]


def memory_section(run: Path) -> list[str]:
    rows = []
    for fpath in sorted(run.glob("memory-*.json")):
        d = load(fpath)
        if d:
            rows.append(
                f"| {d['label']} | {', '.join(map(str, d['worker_rss_mb']))} | "
                f"{', '.join(map(str, d['worker_pss_mb']))} | {round(d['master'].get('vmrss_kb', 0) / 1024, 1)} | "
                f"{', '.join(map(str, d.get('password_service_rss_mb', [])))} |"
            )
    if not rows:
        return []
    return [
        "| when | worker RSS MB | worker PSS MB | master RSS MB | password service RSS MB (service, verifiers) |",
        "|---|---|---|---:|---|",
        *rows,
        "",
    ]


def many_section(run: Path) -> list[str]:
    m = load(run / "many" / "provision.json")
    if not m:
        return []
    out = [
        "## Many tenants",
        "",
        f"Provisioned **{m['provisioned']}** of {m['requested']} requested tenants "
        f"({'stopped by the time budget' if m['stopped_early_by_time_budget'] else 'complete'}) in "
        f"{m['seconds']:.0f} s = {m['tenants_per_s']:.1f} tenants/s with {m['procs']} processes, "
        f"batches of {m['batch']} tenants per transaction. Each: 4 signing keys (RS256 + ES256, current + next), "
        "1 scope, 3 clients, 10 users (one precomputed argon2id hash reused). Scenarios rerun against "
        f"`{(m.get('target') or {}).get('slug')}`; the database also holds `acme`.",
        "",
    ]
    run_txt = text(run / "many" / "yardstick-run.txt").rstrip()
    if run_txt:
        out += [
            "`../shared/bench/run.sh` (ours alone), the target tenant and acme alternated in the same run:",
            "",
            "```",
            run_txt,
            "```",
            "",
        ]
    out += userinfo_many(run)
    out += ["Login on the target tenant:", ""] + login_section(run, "many")
    sw = load(run / "many" / "sweep.json")
    if sw:
        out += [
            f"Sweep (every tenant once: GET jwks + client_credentials token, concurrency 16): "
            f"{sw['tenants_touched']}/{sw['tenants_total']} tenants in {sw['seconds']:.0f} s "
            f"({sw['tenants_per_s']:.0f} tenants/s), errors: {sw['errors'] or 'none'}.",
            "",
        ]
    out += ["Memory of the uvicorn workers:", "", *memory_section(run / "many")]
    m2, m3 = load(run / "many" / "memory-2-one-tenant.json"), load(run / "many" / "memory-3-all-tenants.json")
    if m2 and m3 and sw and sw["tenants_touched"]:
        grow = [b - a for a, b in zip(m2["worker_rss_mb"], m3["worker_rss_mb"], strict=False)]
        out += [
            f"RSS growth per worker while touching {sw['tenants_touched']} tenants: "
            f"{', '.join(f'{g:+.1f}' for g in grow)} MB, i.e. about "
            f"{max(grow) * 1024 / sw['tenants_touched']:.1f} KB per tenant per worker (each worker caches "
            "the parsed key rings of the tenants it served most recently: `KeyCache`, at most 2,000 entries).",
            "",
        ]
    return out


def userinfo_many(run: Path) -> list[str]:
    ui = load(run / "many" / "userinfo.json")
    if not ui:
        return []
    s, r = ui["summary"], ui["ratios"]
    out = [
        "userinfo vs discovery on the target tenant:",
        "",
        "| scenario | req/s | p50 ms | p99 ms | CPU µs/req |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("discovery", "userinfo"):
        x = s[name]
        out.append(f"| {name} | {f(x['rps'])} | {f(x['p50'], 2)} | {f(x['p99'], 2)} | {f(x['cpu_us_per_req'], 0)} |")
    if r:
        out.append(
            f"\nCost ratio userinfo/discovery: {f(r['cost_per_request_userinfo_over_discovery_wall'], 2)}× "
            f"(throughput), {f(r['cpu_per_request_userinfo_over_discovery'], 2)}× (CPU)."
        )
    return out + [""]


def _median_raw(path: Path, side: str, scenario: str, col: int) -> float | None:
    vals = [
        float(r[col])
        for r in raw_rows(path)
        if len(r) >= 8 and r[0] == side and r[1] == scenario and r[col] not in {"n/a", "-"} and r[5:7] == ["0", "0"]
    ]
    return statistics.median(vals) if vals else None


def summary_section(run: Path) -> list[str]:
    rows = []
    for alg in ("ES256", "RS256"):
        raw = run / f"compare-{alg}.raw"
        for s in ("discovery", "jwks", "token"):
            o, p = _median_raw(raw, "ours", s, 2), _median_raw(raw, "peer", s, 2)
            oc, pc = _median_raw(raw, "ours", s, 7), _median_raw(raw, "peer", s, 7)
            if o and p:
                rows.append(f"| {s} ({alg}) | {o / p:.2f} | {f(oc / pc if oc and pc else None, 1)} |")
    out = [
        "### Summary",
        "",
        "| | ours/peer req/s (median, above 1 is better) | ours/peer server CPU per request |",
        "|---|---:|---:|",
        *rows,
        "",
    ]
    o_es, o_rs = (
        _median_raw(run / "compare-ES256.raw", "ours", "token", 2),
        _median_raw(run / "compare-RS256.raw", "ours", "token", 2),
    )
    if o_es and o_rs:
        out.append(f"- Our token endpoint, ES256 vs RS256 req/s: {o_es / o_rs:.2f}×.")
    d = load(run / "dbcount.json") or {}
    sc = d.get("scenarios", {})
    if sc:
        out.append(
            "- Database round trips per request: "
            + ", ".join(
                f"{k} {v['statements_per_request']:.0f}" for k, v in sc.items() if not k.startswith(("step_", "load_"))
            )
            + (
                "; under load the pool opened "
                f"{sc['load_token_client_credentials'].get('new_connections_per_1000_requests')} "
                "new PostgreSQL connections per 1000 token requests"
                if "load_token_client_credentials" in sc
                else ""
            )
            + "."
        )
    ui = load(run / "userinfo.json")
    if ui and ui.get("ratios"):
        out.append(
            f"- userinfo costs {ui['ratios']['cost_per_request_userinfo_over_discovery_wall']:.2f}× a discovery "
            f"request (throughput), {f(ui['ratios']['cpu_per_request_userinfo_over_discovery'], 2)}× (server CPU)."
        )
    lg, ar = load(run / "login.json"), load(run / "argon2.json")
    if lg and ar:
        out.append(
            f"- Password logins: {lg['logins_per_s']:.2f}/s at concurrency {lg['concurrency']} vs "
            f"{ar['verifications_per_s']:.2f} argon2id verifications/s alone: ratio "
            f"{lg['logins_per_s'] / ar['verifications_per_s']:.2f}."
        )
    return out + [""]


def errors_section(run: Path) -> list[str]:
    out = []
    for path in sorted(run.glob("**/compare-*.raw")) + sorted(run.glob("**/yardstick-run.txt")):
        for r in raw_rows(path):
            if len(r) < 8 or not re.fullmatch(r"[\d.]+", r[2]):
                if "n/a" in r:
                    out.append(f"- {path.relative_to(run)}: `{' '.join(r)}` (no valid run)")
                continue
            if r[5:7] != ["0", "0"]:
                out.append(f"- {path.relative_to(run)}: `{' '.join(r)}` (non-2xx / socket errors: run discarded)")
    for path in sorted(run.glob("**/*.json")):
        d = load(path)
        if isinstance(d, dict):
            if d.get("non2xx") or d.get("sockerr"):
                out.append(f"- {path.relative_to(run)}: non-2xx {d.get('non2xx')}, socket errors {d.get('sockerr')}")
            if d.get("errors"):
                out.append(f"- {path.relative_to(run)}: {d['errors']}")
            load_ = d.get("load")
            if isinstance(load_, dict) and (load_.get("non2xx") or load_.get("sockerr")):
                out.append(
                    f"- {path.relative_to(run)} (load under profiler): non-2xx {load_['non2xx']}, "
                    f"socket errors {load_['sockerr']}"
                )
    for log in sorted(run.glob("**/server*.log")):
        lines = text(log).splitlines()
        bad = [ln for ln in lines if re.search(r'Traceback|"level": "(error|critical)"|^ERROR|Exception', ln)]
        warn = [ln for ln in lines if '"level": "warning"' in ln]
        if bad or warn:
            out.append(
                f"- {log.relative_to(run)}: {len(bad)} error lines, {len(warn)} warnings; first: "
                f"`{(bad or warn)[0][:200]}`"
            )
    for log in sorted(run.glob("**/*.stderr")):
        for ln in text(log).splitlines():
            if "not valid" in ln or "failed" in ln or "skipped" in ln:
                out.append(f"- {log.relative_to(run)}: `{ln.strip()[:200]}`")
    return out or ["- none: every wrk run had 0 non-2xx and 0 socket errors, no errors in the server logs"]


def main() -> int:
    run, report = Path(sys.argv[1]), Path(sys.argv[2])
    meta = load(run / "meta.json") or {}
    png = report.with_name(report.stem.replace("report-", "latency-") + ".png")
    has_plot = plot(run, png)
    md = [f"# Benchmark report {meta.get('stamp', '')}", "", "| | |", "|---|---|"]
    for k, v in meta.items():
        md.append(f"| {k} | {v} |")
    md += [
        "",
        "Numbers on this 2-core machine drift 30 %+ between runs: read the ratios measured in this run, not "
        "the absolute figures. Loads are closed-loop wrk on loopback, bounded in time.",
        "",
        f"## Yardstick: ours vs panva's oidc-provider (compare.sh, {meta.get('yardstick', '')})",
        "",
    ]
    md += summary_section(run)
    md += compare_section(run, "ES256") + compare_section(run, "RS256") + curves_section(run)
    md += ["## Our scenarios (tenant acme)", ""] + userinfo_section(run)
    md += ["### Password login", ""] + login_section(run)
    if has_plot:
        md += ["### Latency percentiles", "", f"![latency percentiles]({png.name})", ""]
    md += ["## Database statements per request", ""] + dbcount_section(run)
    md += [
        "## Profiles (py-spy, both workers, under wrk load)",
        "",
        "Each profile: `py-spy record --subprocesses --function --format raw` on the uvicorn master while wrk "
        "loads the endpoint (32 connections). *Wall* profiles sample every non-idle thread (waiting on "
        "PostgreSQL included); *GIL* profiles (`--gil`) sample only the thread holding the GIL, i.e. Python CPU. "
        "Raw stacks are kept next to this report (`profile-*.raw`, loadable in speedscope.app).",
        "",
    ]
    for fpath in sorted(run.glob("profile-*.json")):
        d = load(fpath)
        if d:
            md.append(
                render_markdown(
                    d, f"{d['name']} ({'GIL holders only' if d.get('gil_only') else 'wall, non-idle threads'})"
                )
            )
    md += ["## Memory per worker", ""] + memory_section(run)
    md += many_section(run)
    md += ["## Errors and non-2xx", ""] + errors_section(run) + [""]
    report.write_text("\n".join(md) + "\n")
    print(
        f"report: wrote {report}" + (f" and {png}" if has_plot else " (no plot: matplotlib missing)"), file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
