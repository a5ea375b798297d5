"""contract register: the clause text of each contract's current version, searchable; saved filters

Each distinct paragraph of rendered contract text is a ``clause`` row, a contract names the paragraphs of its current
version in ``contract_clause``. What makes a substring search of the clauses fast is the database's own: on PostgreSQL
the pg_trgm extension (trusted: the database's owner may create it) and a GIN trigram index, which also index Chinese
(the database's LC_CTYPE must be a UTF-8 locale, e.g. C.UTF-8, so that Han characters count as word characters); on
SQLite an FTS5 table with the trigram tokenizer (SQLite 3.34 or later) kept in step by triggers.

Contracts that exist when this runs get a register.index job, which takes the paragraphs of their current version.

Revision ID: f3c7a1e5b902
Revises: e8b3c1d4f702
Create Date: 2026-12-03 09:00:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'f3c7a1e5b902'
down_revision = 'e8b3c1d4f702'
branch_labels = None
depends_on = None

INDEX_MAX_ATTEMPTS = 5  # JobService.register's default, with which register.index is registered


def upgrade():
    op.create_table('clause',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clause')),
    sa.UniqueConstraint('sha256', name=op.f('uq_clause_sha256'))
    )
    op.create_table('contract_clause',
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('clause_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['clause_id'], ['clause.id'], name=op.f('fk_contract_clause_clause_id_clause')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contract_clause_contract_id_contract')),
    sa.PrimaryKeyConstraint('contract_id', 'clause_id', name=op.f('pk_contract_clause'))
    )
    op.create_index('ix_contract_clause_clause_contract', 'contract_clause', ['clause_id', 'contract_id'], unique=False)
    op.create_table('saved_filter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('query', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filter')),
    sa.UniqueConstraint('username', 'name', name=op.f('uq_saved_filter_username_name'))
    )
    op.create_index(op.f('ix_saved_filter_username'), 'saved_filter', ['username'], unique=False)
    op.create_index('ix_contract_created', 'contract', ['created_at', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute('CREATE INDEX ix_clause_text_trgm ON clause USING gin (text gin_trgm_ops)')
        # a template's ~240 paragraphs are in every contract of it, a contract's own in one: the planner must know the
        # former by name (the most common values) to estimate the latter as the few rows they are and walk the index
        op.execute('ALTER TABLE contract_clause ALTER COLUMN clause_id SET STATISTICS 2000')
    else:
        op.execute("CREATE VIRTUAL TABLE clause_fts USING fts5(text, content='clause', content_rowid='id', "
                   "tokenize='trigram')")
        op.execute('CREATE TRIGGER clause_fts_insert AFTER INSERT ON clause BEGIN '
                   'INSERT INTO clause_fts (rowid, text) VALUES (new.id, new.text); END')
        op.execute('CREATE TRIGGER clause_fts_delete AFTER DELETE ON clause BEGIN '
                   "INSERT INTO clause_fts (clause_fts, rowid, text) VALUES ('delete', old.id, old.text); END")

    contract = sa.table('contract', sa.column('id', sa.Integer))
    job = sa.table('job', *(sa.column(name, type_) for name, type_ in (
        ('kind', sa.String), ('payload_json', sa.Text), ('contract_id', sa.Integer), ('dedupe_key', sa.String),
        ('pending_key', sa.String), ('status', sa.String), ('attempts', sa.Integer), ('max_attempts', sa.Integer),
        ('run_at', sqlmodel.sql.sqltypes.UTCDateTime()), ('rerun', sa.Boolean), ('last_error', sa.Text),
        ('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))))
    existing = list(op.get_bind().scalars(sa.select(contract.c.id)))
    now = datetime.now(timezone.utc)
    if existing:
        op.bulk_insert(job, [{
            'kind': 'register.index', 'payload_json': f'{{"contract_id": {id_}}}', 'contract_id': id_,
            'dedupe_key': f'register.index:{id_}', 'pending_key': f'register.index:{id_}', 'status': 'queued',
            'attempts': 0, 'max_attempts': INDEX_MAX_ATTEMPTS, 'run_at': now, 'rerun': False, 'last_error': '',
            'created_at': now} for id_ in existing])


def downgrade():
    op.execute("DELETE FROM job WHERE kind = 'register.index'")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX ix_clause_text_trgm')
    else:
        op.execute('DROP TRIGGER clause_fts_delete')
        op.execute('DROP TRIGGER clause_fts_insert')
        op.execute('DROP TABLE clause_fts')
    op.drop_index('ix_contract_created', table_name='contract')
    op.drop_index(op.f('ix_saved_filter_username'), table_name='saved_filter')
    op.drop_table('saved_filter')
    op.drop_index('ix_contract_clause_clause_contract', table_name='contract_clause')
    op.drop_table('contract_clause')
    op.drop_table('clause')
