"""refresh-token reuse grace: the client's setting, and the rotation's sealed response

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:00:00

Expand only: new columns with defaults, so code of the previous release keeps working on them.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_token_grace", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("successor_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("successor_sealed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("successor_sealed")
        batch_op.drop_column("successor_hash")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("refresh_token_grace")
