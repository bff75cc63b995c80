"""the user's standard claims (OIDC Core §5.1) as one JSON document

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:35:00

Expand only: a new column with a default, so code of the previous release keeps working on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("claims")
