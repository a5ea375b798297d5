"""payment plans: each active contract's instalments, and the payments finance records against them

Contracts already active when this runs get their instalments from their current version's schedule (new ones get
them in their activation's transaction).

Revision ID: e8b3c6d41a27
Revises: d5f1a7c3e920
Create Date: 2026-12-02 16:32:57.889055
"""
import json
from datetime import date, datetime, timezone
from decimal import Decimal

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'e8b3c6d41a27'
down_revision = 'd5f1a7c3e920'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_instalment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('paid', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reminded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('overdue_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_payment_instalment_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_instalment')),
    sa.UniqueConstraint('contract_id', 'seq', name=op.f('uq_payment_instalment_contract_id_seq'))
    )
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_instalment_due', ['due_date'], unique=False)

    op.create_table('payment_received',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instalment_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('bank_reference', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_payment_received_contract_id_contract')),
    sa.ForeignKeyConstraint(['instalment_id'], ['payment_instalment.id'], name=op.f('fk_payment_received_instalment_id_payment_instalment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_received')),
    sa.UniqueConstraint('instalment_id', 'bank_reference', name=op.f('uq_payment_received_instalment_id_bank_reference'))
    )
    with op.batch_alter_table('payment_received', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_received_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_received_instalment_id'), ['instalment_id'], unique=False)

    version = sa.table('contract_version', sa.column('contract_id', sa.Integer), sa.column('version', sa.Integer),
                       sa.column('data_json', sa.Text))
    contract = sa.table('contract', sa.column('id', sa.Integer), sa.column('status', sa.String),
                        sa.column('current_version', sa.Integer))
    instalment = sa.table('payment_instalment', *(sa.column(name, type_) for name, type_ in (
        ('contract_id', sa.Integer), ('seq', sa.Integer), ('due_date', sa.Date), ('amount', sa.Numeric(14, 2)),
        ('paid', sa.Numeric(14, 2)), ('version', sa.Integer), ('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))))
    active = op.get_bind().execute(sa.select(contract.c.id, version.c.data_json).join(version, sa.and_(
        version.c.contract_id == contract.c.id, version.c.version == contract.c.current_version))
        .where(contract.c.status == 'active')).all()
    now = datetime.now(timezone.utc)
    rows = [{'contract_id': contract_id, 'seq': seq, 'due_date': date.fromisoformat(due['due_date']),
             'amount': Decimal(due['amount']), 'paid': Decimal('0.00'), 'version': 1, 'created_at': now}
            for contract_id, data_json in active
            for seq, due in enumerate(json.loads(data_json)['figures']['schedule'], start=1)]
    if rows:
        op.bulk_insert(instalment, rows)


def downgrade():
    with op.batch_alter_table('payment_received', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_received_instalment_id'))
        batch_op.drop_index(batch_op.f('ix_payment_received_contract_id'))

    op.drop_table('payment_received')
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_instalment_due')

    op.drop_table('payment_instalment')
