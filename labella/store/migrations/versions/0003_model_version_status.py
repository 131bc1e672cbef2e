"""model versions: a status, so that a retrain's version is invisible until complete

Revision ID: 0003
Revises: 0002_web_sessions
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002_web_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=False,
                                      server_default='ready'))
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('job_id')
        batch_op.drop_column('status')
