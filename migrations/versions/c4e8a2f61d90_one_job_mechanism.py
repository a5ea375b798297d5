"""one job mechanism: mail, webhooks, timers and the daily digest are jobs

The outboxes keep what was said and when it went out; tries, back-off and errors are the delivery job's, so their
own lease and attempt columns go. Recurring runs (the daily digest) are claimed through recurring_execution. Every
running instance waiting on a timer gets its process.timer job here, in the schema change's transaction, rather than
by a sweep at each start: it is needed exactly once, and nodes starting together would race each other for it.

Revision ID: c4e8a2f61d90
Revises: c3a9f2d71e08
Create Date: 2026-12-02 10:00:00.000000
"""
import json
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c4e8a2f61d90'
down_revision = 'c3a9f2d71e08'
branch_labels = None
depends_on = None

TIMER_MAX_ATTEMPTS = 10  # workflows/services/timers.py POLICY when this was written


def upgrade():
    op.create_table('recurring_execution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_execution')),
    sa.UniqueConstraint('task_key', 'run_at', name=op.f('uq_recurring_execution_task_key_run_at'))
    )
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_mail_pending')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('last_error')
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_event_pending')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('last_status')
        batch_op.drop_column('last_error')

    instance = sa.table('process_instance', sa.column('id', sa.Integer), sa.column('business_key', sa.String),
                        sa.column('status', sa.String), sa.column('next_timer_at', sqlmodel.sql.sqltypes.UTCDateTime()))
    job = sa.table('job', *(sa.column(name, type_) for name, type_ in (
        ('kind', sa.String), ('payload_json', sa.Text), ('contract_id', sa.Integer), ('dedupe_key', sa.String),
        ('pending_key', sa.String), ('status', sa.String), ('attempts', sa.Integer), ('max_attempts', sa.Integer),
        ('run_at', sqlmodel.sql.sqltypes.UTCDateTime()), ('rerun', sa.Boolean), ('last_error', sa.Text),
        ('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))))
    waiting = op.get_bind().execute(sa.select(instance.c.id, instance.c.business_key, instance.c.next_timer_at).where(
        instance.c.status == 'running', instance.c.next_timer_at.is_not(None))).all()
    now = datetime.now(timezone.utc)
    if waiting:
        op.bulk_insert(job, [{
            'kind': 'process.timer', 'payload_json': json.dumps({'instance_id': row.id}),
            'contract_id': int(row.business_key) if row.business_key.isdigit() else None,
            'dedupe_key': f'process.timer:{row.id}', 'pending_key': f'process.timer:{row.id}', 'status': 'queued',
            'attempts': 0, 'max_attempts': TIMER_MAX_ATTEMPTS, 'run_at': row.next_timer_at, 'rerun': False,
            'last_error': '', 'created_at': now} for row in waiting])


def downgrade():
    op.execute("DELETE FROM job WHERE kind IN ('process.timer', 'mail.send', 'webhook.deliver', 'mail.digest') "
               "AND status IN ('queued', 'running')")
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('last_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False))
        batch_op.create_index('ix_webhook_event_pending', ['delivered_at', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False))
        batch_op.create_index('ix_outbox_mail_pending', ['sent_at', 'next_attempt_at'], unique=False)
    op.drop_table('recurring_execution')
