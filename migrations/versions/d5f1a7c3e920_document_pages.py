"""document pages: the contract's document as PNG images per page, to read it on a phone

Contracts waiting for their customer when this runs get a document.prepare job, which draws the pages of the
document already prepared for them (the job draws them from now on when it prepares one).

Revision ID: d5f1a7c3e920
Revises: 5d1f7c2a9e43
Create Date: 2026-12-02 13:00:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'd5f1a7c3e920'
down_revision = '5d1f7c2a9e43'
branch_labels = None
depends_on = None

PREPARE_MAX_ATTEMPTS = 5  # JobService.register's default, with which document.prepare is registered


def upgrade():
    op.create_table('document_page',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('source_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('png', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_document_page_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_page')),
    sa.UniqueConstraint('contract_id', 'source_sha256', 'number',
                        name=op.f('uq_document_page_contract_id_source_sha256_number'))
    )

    contract = sa.table('contract', sa.column('id', sa.Integer), sa.column('status', sa.String))
    job = sa.table('job', *(sa.column(name, type_) for name, type_ in (
        ('kind', sa.String), ('payload_json', sa.Text), ('contract_id', sa.Integer), ('dedupe_key', sa.String),
        ('pending_key', sa.String), ('status', sa.String), ('attempts', sa.Integer), ('max_attempts', sa.Integer),
        ('run_at', sqlmodel.sql.sqltypes.UTCDateTime()), ('rerun', sa.Boolean), ('last_error', sa.Text),
        ('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))))
    pending = set(op.get_bind().scalars(sa.select(job.c.pending_key).where(job.c.pending_key.is_not(None))))
    waiting = [id_ for id_ in op.get_bind().scalars(sa.select(contract.c.id).where(contract.c.status == 'awaiting_customer'))
               if f'document.prepare:{id_}' not in pending]
    now = datetime.now(timezone.utc)
    if waiting:
        op.bulk_insert(job, [{
            'kind': 'document.prepare', 'payload_json': f'{{"contract_id": {id_}}}', 'contract_id': id_,
            'dedupe_key': f'document.prepare:{id_}', 'pending_key': f'document.prepare:{id_}', 'status': 'queued',
            'attempts': 0, 'max_attempts': PREPARE_MAX_ATTEMPTS, 'run_at': now, 'rerun': False, 'last_error': '',
            'created_at': now} for id_ in waiting])


def downgrade():
    op.drop_table('document_page')
