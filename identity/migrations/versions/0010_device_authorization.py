"""device authorization grant (RFC 8628): the device_authorizations table; tenants that allow every grant

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:10:00

Expand only: a new table. Existing tenants that still allow all of the former grants (they never narrowed
the list) are given the device grant too, as new tenants are: it does nothing until an app is registered
for it. A tenant that chose its list keeps exactly that list.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
FORMER_GRANTS = {"authorization_code", "refresh_token", "client_credentials"}


def upgrade() -> None:
    op.create_table(
        "device_authorizations",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("device_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("granted_scope", sa.Text(), nullable=True),
        sa.Column("auth_time", sa.BigInteger(), nullable=True),
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("grant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("consumed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "grant_id"], ["grants.tenant_id", "grants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "device_code_hash", name="uq_device_authorizations_device_code"),
        sa.UniqueConstraint("tenant_id", "user_code_hash", name="uq_device_authorizations_user_code"),
    )
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.create_index("ix_device_authorizations_expires_at", ["tenant_id", "expires_at"], unique=False)

    tenants = sa.table("tenants", sa.column("id", sa.String), sa.column("allowed_grant_types", sa.JSON))
    connection = op.get_bind()
    for tenant_id, allowed in connection.execute(sa.select(tenants.c.id, tenants.c.allowed_grant_types)).all():
        grants = json.loads(allowed) if isinstance(allowed, str) else list(allowed or [])
        if FORMER_GRANTS <= set(grants) and DEVICE_CODE not in grants:
            connection.execute(
                tenants.update().where(tenants.c.id == tenant_id).values(allowed_grant_types=[*grants, DEVICE_CODE])
            )


def downgrade() -> None:
    tenants = sa.table("tenants", sa.column("id", sa.String), sa.column("allowed_grant_types", sa.JSON))
    connection = op.get_bind()
    for tenant_id, allowed in connection.execute(sa.select(tenants.c.id, tenants.c.allowed_grant_types)).all():
        grants = json.loads(allowed) if isinstance(allowed, str) else list(allowed or [])
        if DEVICE_CODE in grants:
            kept = [g for g in grants if g != DEVICE_CODE]
            connection.execute(tenants.update().where(tenants.c.id == tenant_id).values(allowed_grant_types=kept))
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_device_authorizations_expires_at")
    op.drop_table("device_authorizations")
