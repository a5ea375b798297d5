"""contract amendments (补充协议) and the administrator's working-day overrides their answer deadlines count on

Revision ID: a7e2d9c41b01
Revises: b7e2d9c41b02
Create Date: 2026-12-02 20:06:24.242205
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'a7e2d9c41b01'
down_revision = 'b7e2d9c41b02'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('working_day_override',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_working_day', sa.Boolean(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_working_day_override'))
    )
    op.create_table('contract_amendment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('open_key', sa.Integer(), nullable=True),
    sa.Column('party', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('proposed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('proposed_by_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('proposed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('changes_json', sa.Text(), nullable=False),
    sa.Column('before_json', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.Column('answer_due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('answered_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('answered_by_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('answer_comment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('effective_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contract_amendment_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_amendment')),
    sa.UniqueConstraint('contract_id', 'number', name=op.f('uq_contract_amendment_contract_id_number')),
    sa.UniqueConstraint('open_key', name=op.f('uq_contract_amendment_open_key'))
    )
    with op.batch_alter_table('contract_amendment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_amendment_contract_id'), ['contract_id'], unique=False)



def downgrade():
    with op.batch_alter_table('contract_amendment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_amendment_contract_id'))

    op.drop_table('contract_amendment')
    op.drop_table('working_day_override')
