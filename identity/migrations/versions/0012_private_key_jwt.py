"""private_key_jwt client authentication (OIDC Core §9, RFC 7523): the client's authentication method and
public keys, and the used assertion ids

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:10:00

Expand only: a new table, and new columns with defaults. Existing public clients get "none", the others
"client_secret_basic" (which, like client_secret_post, accepts either way of sending the secret).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "token_endpoint_auth_method",
                sqlmodel.sql.sqltypes.AutoString(length=40),
                nullable=False,
                server_default="client_secret_basic",
            )
        )
        batch_op.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("jwks_uri", sa.Text(), nullable=False, server_default=""))
    op.execute(
        sa.text("UPDATE clients SET token_endpoint_auth_method = 'none' WHERE is_public = :public").bindparams(
            public=True
        )
    )
    op.create_table(
        "client_assertion_jtis",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("jti_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "client_id", "jti_hash"),
    )
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.create_index("ix_client_assertion_jtis_expires_at", ["tenant_id", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index("ix_client_assertion_jtis_expires_at")
    op.drop_table("client_assertion_jtis")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("jwks_uri")
        batch_op.drop_column("jwks")
        batch_op.drop_column("token_endpoint_auth_method")
