"""dataset versions: named snapshots of a project's labels

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labella.store.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dataset_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=True),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('label_counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', labella.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_dataset_versions_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_dataset_versions_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_versions')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_dataset_versions_project_id_name'))
    )
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_versions_project_id'), ['project_id'], unique=False)
    op.create_table('dataset_version_labels',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('annotated_at', labella.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_dataset_version_labels_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dataset_version_labels_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.id'], name=op.f('fk_dataset_version_labels_version_id_dataset_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'item_id', name=op.f('pk_dataset_version_labels'))
    )
    with op.batch_alter_table('dataset_version_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_version_labels_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dataset_version_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_version_labels_item_id'))
    op.drop_table('dataset_version_labels')
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_versions_project_id'))
    op.drop_table('dataset_versions')
