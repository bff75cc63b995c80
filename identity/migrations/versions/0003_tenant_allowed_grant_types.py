"""tenant allowed grant types

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:40:13.856546
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allowed_grant_types",
                sa.JSON(),
                nullable=False,
                server_default='["authorization_code", "refresh_token", "client_credentials"]',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("allowed_grant_types")
