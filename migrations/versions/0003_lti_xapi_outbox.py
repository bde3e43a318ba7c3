"""LTI registrations, tool keys, launch data and contexts, the outbox, xAPI statements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:51:23.862089+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lti_launch_data',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('expires_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_lti_launch_data'))
    )
    with op.batch_alter_table('lti_launch_data', schema=None) as batch_op:
        batch_op.create_index('ix_lti_launch_data_expires_at', ['expires_at'], unique=False)

    op.create_table('lti_platforms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('auth_login_url', sa.String(length=1000), nullable=False),
    sa.Column('auth_token_url', sa.String(length=1000), nullable=False),
    sa.Column('auth_audience', sa.String(length=1000), nullable=True),
    sa.Column('key_set_url', sa.String(length=1000), nullable=True),
    sa.Column('key_set', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_platforms')),
    sa.UniqueConstraint('issuer', 'client_id', name=op.f('uq_lti_platforms_issuer_client_id'))
    )
    op.create_table('lti_tool_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('public_jwk', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('private_key_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_lti_tool_keys'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_outbox_messages_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_messages_dedupe_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('lti_deployments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_deployments_platform_id_lti_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_deployments')),
    sa.UniqueConstraint('platform_id', 'deployment_id', name=op.f('uq_lti_deployments_platform_id_deployment_id'))
    )
    op.create_table('lti_launch_contexts',
    sa.Column('attempt_id', sa.Uuid(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('lti_user_id', sa.String(length=255), nullable=False),
    sa.Column('resource_link_id', sa.String(length=255), nullable=True),
    sa.Column('lineitem_url', sa.String(length=1000), nullable=True),
    sa.Column('lineitems_url', sa.String(length=1000), nullable=True),
    sa.Column('ags_scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('launched_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_lti_launch_contexts_attempt_id_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_launch_contexts_platform_id_lti_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('attempt_id', name=op.f('pk_lti_launch_contexts'))
    )
    op.create_table('xapi_statements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('learner_id', sa.Uuid(), nullable=False),
    sa.Column('attempt_id', sa.Uuid(), nullable=True),
    sa.Column('verb', sa.String(length=255), nullable=False),
    sa.Column('timestamp', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stored_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('statement', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_xapi_statements_attempt_id_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_xapi_statements_learner_id_learners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xapi_statements'))
    )
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.create_index('ix_xapi_statements_learner_timestamp', ['learner_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_xapi_statements_timestamp', ['timestamp'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('xapi_statements', schema=None) as batch_op:
        batch_op.drop_index('ix_xapi_statements_timestamp')
        batch_op.drop_index('ix_xapi_statements_learner_timestamp')

    op.drop_table('xapi_statements')
    op.drop_table('lti_launch_contexts')
    op.drop_table('lti_deployments')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')

    op.drop_table('outbox_messages')
    op.drop_table('lti_tool_keys')
    op.drop_table('lti_platforms')
    with op.batch_alter_table('lti_launch_data', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_launch_data_expires_at')

    op.drop_table('lti_launch_data')
