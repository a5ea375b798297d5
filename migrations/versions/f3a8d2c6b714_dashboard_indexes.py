"""dashboard indexes: contracts expiring (per month: the register's ix_contract_created), activations and completed tasks by time, open tasks by age,
cycle times, instalments not fully paid by due date (bench/dashboards.py: each panel within 200 ms at 100,000 contracts)

Revision ID: f3a8d2c6b714
Revises: f3c7a1e5b902
Create Date: 2026-12-02 17:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'f3a8d2c6b714'
down_revision = 'f3c7a1e5b902'
branch_labels = None
depends_on = None

UNPAID = sa.text("paid < amount")


def upgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index('ix_contract_status_effective_to', ['status', 'effective_to'], unique=False)
    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.create_index('ix_history_event_event_at', ['event', 'at', 'contract_id'], unique=False)
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_state_created', ['state', 'created_at'], unique=False)
        batch_op.create_index('ix_human_task_completed', ['completed_at', 'name', 'created_at'], unique=False)
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_instalment_unpaid_due', ['due_date', 'contract_id'], unique=False,
                              postgresql_where=UNPAID, sqlite_where=UNPAID)


def downgrade():
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_instalment_unpaid_due')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_completed')
        batch_op.drop_index('ix_human_task_state_created')
    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.drop_index('ix_history_event_event_at')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_status_effective_to')
