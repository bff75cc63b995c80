"""The ``identity`` command: serve, migrate, and manage tenants, clients, users, scopes, keys and admins.

Every command takes ``--json`` for machine-readable output; errors go to stderr with exit code 1
(2 for usage errors, from argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlmodel import Session

from identity.admins import AdminError, create_admin
from identity.clients import ClientError, ClientSpec, default_app_type
from identity.context import AppContext
from identity.db import session_scope
from identity.keys import SUPPORTED_ALGS, rotate
from identity.models.tenant import PLATFORM_SLUG
from identity.settings import Settings, SettingsError
from identity.users import UserError
from tenants import audit
from tenants.manage.apps import create_app
from tenants.manage.errors import ManageError
from tenants.manage.scopes import define_scope
from tenants.manage.tenants import choose_access_token_alg, create_customer_tenant, platform_tenant, rename_tenant
from tenants.manage.users import create_end_user
from tenants.resolution import find_tenant
from tenants.service import TenantError


class CommandError(Exception):
    """A refusal to report to the user (bad input, unknown tenant, …)."""


def _tenant(session: Session, slug: str) -> Any:
    tenant = find_tenant(session, slug)
    if tenant is None:
        raise CommandError(f"unknown tenant {slug!r}")
    return tenant


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def cmd_migrate(ctx: AppContext, args: argparse.Namespace) -> None:
    from identity.migrate import upgrade  # noqa: PLC0415 - alembic is only needed here

    upgrade(ctx.settings.database_url)
    _emit(args, {"migrated": True}, "Database is up to date.")


def cmd_tenant_create(ctx: AppContext, args: argparse.Namespace) -> None:
    with session_scope(ctx.sessions) as session:
        name = args.name if args.name is not None else args.slug
        tenant = create_customer_tenant(session, ctx.encryptor, audit.CLI, slug=args.slug, name=name).tenant
        choose_access_token_alg(session, ctx.encryptor, audit.CLI, tenant, args.access_token_alg)
        issuer = ctx.settings.issuer(tenant.slug)
        data = {
            "id": tenant.id,
            "slug": tenant.slug,
            "name": tenant.name,
            "issuer": issuer,
            "discovery": f"{issuer}/.well-known/openid-configuration",
            "access_token_alg": tenant.access_token_alg,
        }
    _emit(args, data, f"Created tenant {data['slug']}\n  issuer:    {issuer}\n  discovery: {data['discovery']}")


def cmd_tenant_update(ctx: AppContext, args: argparse.Namespace) -> None:
    with session_scope(ctx.sessions) as session:
        tenant = _tenant(session, args.slug)
        if args.name:
            rename_tenant(session, ctx.encryptor, audit.CLI, tenant, args.name)
        if args.access_token_alg:
            choose_access_token_alg(session, ctx.encryptor, audit.CLI, tenant, args.access_token_alg)
        data = {"slug": tenant.slug, "name": tenant.name, "access_token_alg": tenant.access_token_alg}
    _emit(args, data, f"Updated tenant {data['slug']}: access tokens signed with {data['access_token_alg']}")


def cmd_client_create(ctx: AppContext, args: argparse.Namespace) -> None:
    with session_scope(ctx.sessions) as session:
        # The platform tenant (the platform API's clients) comes into being with its first client.
        is_platform = args.tenant == PLATFORM_SLUG
        tenant = platform_tenant(session, ctx.encryptor) if is_platform else _tenant(session, args.tenant)
        spec = ClientSpec(
            name=args.name,
            redirect_uris=args.redirect_uri or [],
            public=args.public,
            grant_types=args.grant_type,
            scopes=args.scope,
            app_type=default_app_type(args.public, args.grant_type),
        )
        new = create_app(session, ctx, tenant, audit.CLI, spec)
        client = new.client
        data = {
            "client_id": client.id,
            "client_secret": new.client_secret,
            "name": client.name,
            "public": client.is_public,
            "redirect_uris": client.redirect_uris,
            "grant_types": client.grant_types,
            "scopes": client.scopes,
            "require_pkce": client.require_pkce,
            "issuer": ctx.settings.issuer(tenant.slug),
        }
    text = f"Created client {client.name}\n  client_id:     {client.id}"
    if new.client_secret:
        text += f"\n  client_secret: {new.client_secret}\n  (the secret is shown only now; store it safely)"
    _emit(args, data, text)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is None:
        raise CommandError("give --password or --password-stdin")
    return str(args.password)


def cmd_user_create(ctx: AppContext, args: argparse.Namespace) -> None:
    password = _read_password(args)
    with session_scope(ctx.sessions) as session:
        tenant = _tenant(session, args.tenant)
        user = create_end_user(session, tenant, audit.CLI, email=args.email, password=password, name=args.name or "")
        data = {"id": user.id, "sub": user.id, "email": user.email, "name": user.name, "tenant": tenant.slug}
    _emit(args, data, f"Created user {data['email']} (sub {data['sub']})")


def cmd_admin_create(ctx: AppContext, args: argparse.Namespace) -> None:
    password = _read_password(args)
    with session_scope(ctx.sessions) as session:
        admin = create_admin(session, email=args.email, password=password)
        data = {"id": admin.id, "email": admin.email, "totp_enabled": admin.totp_enabled}
    console = f"{ctx.settings.public_url}/admin"
    _emit(args, {**data, "console": console}, f"Created platform admin {data['email']}\n  sign in at {console}")


def cmd_scope_create(ctx: AppContext, args: argparse.Namespace) -> None:
    with session_scope(ctx.sessions) as session:
        tenant = _tenant(session, args.tenant)
        scope = define_scope(session, tenant, audit.CLI, name=args.name, description=args.description)
        data = {"tenant": tenant.slug, "name": scope.name, "description": scope.description}
    _emit(args, data, f"Defined scope {data['name']} for {data['tenant']}")


def cmd_keys_rotate(ctx: AppContext, args: argparse.Namespace) -> None:
    with session_scope(ctx.sessions) as session:
        tenant = _tenant(session, args.tenant)
        promoted = rotate(session, tenant, ctx.encryptor, actor=audit.CLI)
        data = {"tenant": tenant.slug, "signing": {k.alg: k.kid for k in promoted}, "keys_version": tenant.keys_version}
    lines = "\n".join(f"  {alg}: {kid}" for alg, kid in data["signing"].items())
    _emit(args, data, f"Rotated keys of {data['tenant']}; now signing with:\n{lines}")


def cmd_serve(ctx: AppContext, args: argparse.Namespace) -> None:
    from identity.devserver import serve  # noqa: PLC0415 - uvicorn is only needed here

    serve(ctx, host=args.host, port=args.port, workers=args.workers, as_json=args.json)


def _dev_public_url(settings: Settings, args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    """In dev, with no IDENTITY_PUBLIC_URL given, issuers follow the address we serve on."""
    if args.command != "serve" or settings.is_prod or "IDENTITY_PUBLIC_URL" in environ:
        return settings
    host = "127.0.0.1" if args.host in {"0.0.0.0", "::"} else args.host
    url = f"http://{host}:{args.port}"
    environ["IDENTITY_PUBLIC_URL"] = url  # the uvicorn workers build their settings from the environment
    return replace(settings, public_url=url)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="identity", description="Multi-tenant OpenID Connect provider")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="migrate (dev) and serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", parents=[common], help="upgrade the database to the latest schema").set_defaults(
        func=cmd_migrate
    )

    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    tc = tenant.add_parser("create", parents=[common], help="create a tenant (its own issuer and keys)")
    tc.add_argument("slug")
    tc.add_argument("--name")
    tc.add_argument(
        "--access-token-alg",
        choices=SUPPORTED_ALGS,
        default="RS256",
        help="algorithm of JWT access tokens (ID tokens are RS256, as OIDC requires)",
    )
    tc.set_defaults(func=cmd_tenant_create)
    tu = tenant.add_parser("update", parents=[common], help="change a tenant's settings")
    tu.add_argument("slug")
    tu.add_argument("--name")
    tu.add_argument("--access-token-alg", choices=SUPPORTED_ALGS)
    tu.set_defaults(func=cmd_tenant_update)

    client = sub.add_parser("client", help="manage clients").add_subparsers(dest="action", required=True)
    cc = client.add_parser("create", parents=[common], help="register an application")
    cc.add_argument("--tenant", required=True)
    cc.add_argument("--name", required=True)
    cc.add_argument("--redirect-uri", action="append", help="repeat for several")
    cc.add_argument("--public", action="store_true", help="a public client (SPA, native): no secret, PKCE required")
    cc.add_argument("--grant-type", action="append", help="repeat for several")
    cc.add_argument("--scope", action="append", help="repeat for several")
    cc.set_defaults(func=cmd_client_create)

    user = sub.add_parser("user", help="manage end users").add_subparsers(dest="action", required=True)
    uc = user.add_parser("create", parents=[common], help="create an end user")
    uc.add_argument("--tenant", required=True)
    uc.add_argument("--email", required=True)
    pw = uc.add_mutually_exclusive_group()
    pw.add_argument("--password")
    pw.add_argument("--password-stdin", action="store_true")
    uc.add_argument("--name")
    uc.set_defaults(func=cmd_user_create)

    scope = sub.add_parser("scope", help="manage a tenant's own scopes").add_subparsers(dest="action", required=True)
    sc = scope.add_parser("create", parents=[common], help="define a scope apps may request")
    sc.add_argument("--tenant", required=True)
    sc.add_argument("--name", required=True)
    sc.add_argument("--description", required=True, help="what the scope allows (the consent page shows it)")
    sc.set_defaults(func=cmd_scope_create)

    admin = sub.add_parser("admin", help="manage platform admins").add_subparsers(dest="action", required=True)
    ac = admin.add_parser("create", parents=[common], help="create a platform admin (signs in at /admin)")
    ac.add_argument("--email", required=True)
    admin_pw = ac.add_mutually_exclusive_group(required=True)
    admin_pw.add_argument("--password")
    admin_pw.add_argument("--password-stdin", action="store_true")
    ac.set_defaults(func=cmd_admin_create)

    keys = sub.add_parser("keys", help="manage signing keys").add_subparsers(dest="action", required=True)
    kr = keys.add_parser("rotate", parents=[common], help="promote the published next key, retire the current one")
    kr.add_argument("--tenant", required=True)
    kr.set_defaults(func=cmd_keys_rotate)
    return parser


REFUSALS = (CommandError, TenantError, ClientError, UserError, AdminError, SettingsError, ManageError)


def _refusal(error: Exception) -> str:
    """What went wrong, naming the option at fault when the service layer names the field."""
    if isinstance(error, ManageError) and error.fields:
        return "; ".join(f"{field}: {problem}" for field, problems in error.fields.items() for problem in problems)
    return str(error)


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[AppContext, argparse.Namespace], None] = args.func
    try:
        settings = _dev_public_url(settings or Settings.from_env(), args, os.environ)  # type: ignore[arg-type]
        ctx = AppContext.build(settings)
        try:
            func(ctx, args)
        finally:
            ctx.engine.dispose()
    except REFUSALS as error:
        message = _refusal(error)
        if getattr(args, "json", False):
            print(json.dumps({"error": message}), file=sys.stderr)
        else:
            print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
