"""approvers by rule: departments with managers and members; a task's named approver (candidate) and its
multi-instance step (会签/或签)

Revision ID: c7e2d9c41b03
Revises: a7e2d9c41b01
Create Date: 2026-12-02 20:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'c7e2d9c41b03'
down_revision = 'a7e2d9c41b01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'department',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('manager', sa.String(length=100), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['department.id'], name=op.f('fk_department_parent_id_department')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_department')),
        sa.UniqueConstraint('name', name=op.f('uq_department_name')),
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_parent_id'), ['parent_id'], unique=False)
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_app_user_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_app_user_department_id_department'), 'department',
                                    ['department_id'], ['id'])
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('candidate', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('step_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_human_task_candidate', ['state', 'candidate', 'due_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_step_id'), ['step_id'], unique=False)
        # a role's inbox leaves out the tasks named for a person, still from the index alone and in due-date order
        batch_op.drop_index('ix_human_task_inbox')
        batch_op.create_index('ix_human_task_inbox', ['state', 'role', 'due_at', 'id', 'candidate'], unique=False)


def downgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_inbox')
        batch_op.create_index('ix_human_task_inbox', ['state', 'role', 'due_at', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_human_task_step_id'))
        batch_op.drop_index('ix_human_task_candidate')
        batch_op.drop_column('step_id')
        batch_op.drop_column('candidate')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_app_user_department_id_department'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_app_user_department_id'))
        batch_op.drop_column('department_id')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_parent_id'))
    op.drop_table('department')
