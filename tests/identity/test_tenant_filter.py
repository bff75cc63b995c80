"""The tenant filter: a query on tenant-owned rows that does not name its tenant is refused before it runs,
so a forgotten ``WHERE tenant_id = …`` fails every test that reaches it instead of leaking another tenant's
rows. Statements that span tenants on purpose say so."""

import pytest
from sqlmodel import col, delete, func, select, update

from identity.db import UnscopedStatement, across_tenants, session_scope, tenant_delete, tenant_query, tenant_update
from identity.models.client import Client
from identity.models.user import User
from tests.factories import make_tenant, make_user


@pytest.fixture
def two_tenants(ctx):
    acme, globex = make_tenant(ctx, "acme"), make_tenant(ctx, "globex")
    make_user(ctx, acme, "alice@acme.test")
    make_user(ctx, globex, "bob@globex.test")
    return acme, globex


@pytest.mark.parametrize(
    "statement",
    [
        select(User),
        select(User).where(col(User.email) == "bob@globex.test"),
        select(func.count()).select_from(User),
        select(User).join(Client, col(Client.id) == col(User.id)).where(col(User.tenant_id) == "x"),  # Client unscoped
        update(User).values(name="mallory"),
        delete(User).where(col(User.email) == "bob@globex.test"),
    ],
    ids=["select", "select-by-email", "count", "join", "update", "delete"],
)
def test_unscoped_statements_are_refused_and_change_nothing(ctx, two_tenants, statement):
    with pytest.raises(UnscopedStatement), session_scope(ctx.sessions) as session:
        session.exec(statement)
    with session_scope(ctx.sessions) as session:
        names = {user.email: user.name for user in session.exec(across_tenants(select(User))).all()}
    assert names == {"alice@acme.test": "Alice", "bob@globex.test": "Alice"}


def test_scoped_statements_see_and_change_only_their_tenant(ctx, two_tenants):
    acme, globex = two_tenants
    with session_scope(ctx.sessions) as session:
        assert [u.email for u in session.exec(tenant_query(User, acme.id)).all()] == ["alice@acme.test"]
        session.exec(tenant_update(User, acme.id).values(name="Renamed"))
        session.exec(tenant_delete(User, globex.id).where(col(User.email) == "alice@acme.test"))  # not globex's
    with session_scope(ctx.sessions) as session:
        names = {user.email: user.name for user in session.exec(across_tenants(select(User))).all()}
    assert names == {"alice@acme.test": "Renamed", "bob@globex.test": "Alice"}


def test_statements_marked_as_spanning_tenants_run(ctx, two_tenants):
    with session_scope(ctx.sessions) as session:
        assert session.exec(across_tenants(select(func.count()).select_from(User))).one() == 2
