"""sessions and logout

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 06:47:27.107926
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logout_deliveries",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_logout_deliveries_client", ["tenant_id", "client_id", "created_at"], unique=False)
        batch_op.create_index("ix_logout_deliveries_due", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    with op.batch_alter_table("authorization_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        # Sessions made before this release have no public name: they get none (no sid claim, no notification).
        batch_op.add_column(
            sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")
        )
        batch_op.create_index("ix_browser_sessions_sid", ["tenant_id", "sid"], unique=False)
        batch_op.create_index("ix_browser_sessions_user", ["tenant_id", "user_id"], unique=False)

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("frontchannel_logout_uri", sa.Text(), nullable=False, server_default=""))

    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index("ix_grants_sid", ["tenant_id", "sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_sid")
        batch_op.drop_column("sid")

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("frontchannel_logout_uri")
        batch_op.drop_column("backchannel_logout_uri")

    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_browser_sessions_user")
        batch_op.drop_index("ix_browser_sessions_sid")
        batch_op.drop_column("sid")

    with op.batch_alter_table("authorization_requests", schema=None) as batch_op:
        batch_op.drop_column("sid")

    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("sid")

    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_logout_deliveries_due")
        batch_op.drop_index("ix_logout_deliveries_client")

    op.drop_table("logout_deliveries")
