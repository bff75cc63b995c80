"""DPoP (RFC 9449): the proofs' jti replay table, the clients' DPoP settings, keys bound to codes and
refresh tokens

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00

Expand only: a new table, and new columns with defaults (or nullable).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dpop_proof_jtis",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("jti_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "jti_hash"),
    )
    with op.batch_alter_table("dpop_proof_jtis", schema=None) as batch_op:
        batch_op.create_index("ix_dpop_proof_jtis_expires_at", ["tenant_id", "expires_at"], unique=False)
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dpop_bound_access_tokens", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("require_dpop_nonce", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dpop_jkt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dpop_jkt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("require_dpop_nonce")
        batch_op.drop_column("dpop_bound_access_tokens")
    with op.batch_alter_table("dpop_proof_jtis", schema=None) as batch_op:
        batch_op.drop_index("ix_dpop_proof_jtis_expires_at")
    op.drop_table("dpop_proof_jtis")
