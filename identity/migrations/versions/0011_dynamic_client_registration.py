"""dynamic client registration (RFC 7591/7592): the tenant setting, initial access tokens, and how a
client registered itself

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:10:00

Expand only: a new table, and new columns with server defaults (or nullable).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "initial_access_tokens",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    with op.batch_alter_table("initial_access_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_initial_access_tokens_token_hash", ["tenant_id", "token_hash"], unique=True)
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dynamic_registration",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="off",
            )
        )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("registered_dynamically", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("initial_access_token_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("registration_token_hash", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("registration_token_hash")
        batch_op.drop_column("initial_access_token_id")
        batch_op.drop_column("registered_dynamically")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("dynamic_registration")
    with op.batch_alter_table("initial_access_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_initial_access_tokens_token_hash")
    op.drop_table("initial_access_tokens")
