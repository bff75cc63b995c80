"""Provision many tenants fast, through the product's own service functions.

Each tenant gets what ``tenants.service.create_tenant`` gives it (its RS256 and ES256 current/next keys),
the scope ``api:read``, 3 clients (``identity.clients.register_client``: a confidential web app, a
client_credentials machine client, a public SPA) and 10 users (``identity.users.create_user``).

What makes it fast:
- one transaction per batch of tenants (``--batch``), in ``--procs`` processes;
- every user gets the SAME precomputed argon2id hash of the bench password: ``identity.users.hash_password``
  is replaced, in this process only, by a function returning that hash (hashing 100k passwords would take
  hours). The passwords still verify: the hash is a real one of the real password.
What stays slow: two RSA-2048 key generations per tenant (~65 ms each on this machine), which is the
product's own cost of creating a tenant.

Reads the IDENTITY_* environment like the CLI. Writes a JSON file with each tenant's slug and machine
client credentials (for the sweep) and the full credentials of one target tenant.

usage: python bench/many_tenants.py --tenants 10000 --out tenants.json [--procs 2] [--batch 25]
                                    [--time-budget 540] [--password P]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from typing import Any

USERS_PER_TENANT = 10
REDIRECT_URI = "http://127.0.0.1:8089/callback"
SLUG = "t{:05d}"

_ctx: Any = None


def _init(password_hash: str) -> None:
    global _ctx
    import identity.users  # noqa: PLC0415
    from identity.context import AppContext  # noqa: PLC0415
    from identity.settings import Settings  # noqa: PLC0415

    identity.users.hash_password = lambda _password: password_hash  # the one shortcut: reuse a real hash
    _ctx = AppContext.build(Settings.from_env())


def provision_batch(indexes: list[int], password: str) -> list[dict[str, Any]]:
    from identity.clients import register_client  # noqa: PLC0415
    from identity.db import session_scope  # noqa: PLC0415
    from identity.users import create_user  # noqa: PLC0415
    from tenants.service import create_tenant, define_scope  # noqa: PLC0415

    ctx = _ctx
    out = []
    with session_scope(ctx.sessions) as session:  # one transaction for the whole batch
        for i in indexes:
            slug = SLUG.format(i)
            tenant = create_tenant(session, ctx.encryptor, slug=slug, name=f"Bench tenant {i}")
            define_scope(session, tenant, name="api:read", description="Read the bench API")
            web = register_client(
                session,
                tenant.id,
                ctx.hasher,
                name="web",
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
            )
            m2m = register_client(
                session,
                tenant.id,
                ctx.hasher,
                name="m2m",
                redirect_uris=[],
                grant_types=["client_credentials"],
                scopes=["api:read"],
            )
            register_client(session, tenant.id, ctx.hasher, name="spa", redirect_uris=[REDIRECT_URI], public=True)
            for u in range(USERS_PER_TENANT):
                create_user(session, tenant.id, email=f"user{u}@{slug}.test", password=password, name=f"User {u}")
            out.append(
                {
                    "slug": slug,
                    "m2m_id": m2m.client.id,
                    "m2m_secret": m2m.client_secret,
                    "web_id": web.client.id,
                    "web_secret": web.client_secret,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenants", type=int, default=10_000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--time-budget", type=float, default=0, help="seconds; stop starting batches after this (0: none)")
    p.add_argument("--password", default="bench-password-123")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from identity.passwords import hash_password  # noqa: PLC0415

    t0 = time.perf_counter()
    password_hash = hash_password(args.password)  # computed once, reused for every user
    batches = [list(range(i, min(i + args.batch, args.tenants))) for i in range(0, args.tenants, args.batch)]
    results: list[dict[str, Any]] = []
    stopped_early = False
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.procs, initializer=_init, initargs=(password_hash,)) as pool:
        pending: list[Any] = []
        queue = list(batches)
        while queue or pending:
            while queue and len(pending) < args.procs * 2:
                if args.time_budget and time.perf_counter() - t0 > args.time_budget:
                    stopped_early = True
                    queue.clear()
                    break
                pending.append(pool.apply_async(provision_batch, (queue.pop(0), args.password)))
            if not pending:
                break
            pending[0].wait()
            results += pending.pop(0).get()
            done = len(results)
            elapsed = time.perf_counter() - t0
            if done % (args.batch * 8) == 0 or not (queue or pending):
                rate = done / elapsed
                eta = (args.tenants - done) / rate if rate else 0
                print(
                    f"many_tenants: {done}/{args.tenants} tenants, {rate:.1f}/s, ETA {eta:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = time.perf_counter() - t0
    results.sort(key=lambda r: r["slug"])
    target = results[len(results) // 2] if results else None
    summary = {
        "requested": args.tenants,
        "provisioned": len(results),
        "stopped_early_by_time_budget": stopped_early,
        "seconds": elapsed,
        "tenants_per_s": len(results) / elapsed if elapsed else 0,
        "procs": args.procs,
        "batch": args.batch,
        "per_tenant": {"signing_keys": 4, "clients": 3, "users": USERS_PER_TENANT, "scopes": 1},
        "password": args.password,
        "target": target,
        "tenants": results,
    }
    with open(args.out, "w") as f:
        json.dump(summary, f)
    print(
        f"many_tenants: {len(results)} tenants in {elapsed:.0f} s ({summary['tenants_per_s']:.1f}/s)"
        f"{' (stopped by the time budget)' if stopped_early else ''}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
