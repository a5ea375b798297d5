"""task additions (加签): a reviewer added before or after a step's own decision, gating it

Revision ID: d7e2d9c41b04
Revises: c7e2d9c41b03
Create Date: 2026-12-02 20:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'd7e2d9c41b04'
down_revision = 'c7e2d9c41b03'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'task_addition',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('step_task_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('open_step', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column('position', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_addition')),
    )
    with op.batch_alter_table('task_addition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_addition_step_task_id'), ['step_task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_addition_open_step'), ['open_step'], unique=True)


def downgrade():
    with op.batch_alter_table('task_addition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_addition_open_step'))
        batch_op.drop_index(batch_op.f('ix_task_addition_step_task_id'))
    op.drop_table('task_addition')
