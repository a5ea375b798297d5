"""one signable document: letters pinned per contract version, the current PDF of the signing chain named on the
contract, the reviewed rendering's SHA-256, one signature row per PDF field; customers bound by credit code; contact
changes approved by an administrator

Revision ID: 4b0888ccf646
Revises: 543e9c24ebce
Create Date: 2026-12-02 03:05:30.044894
"""
import hashlib
import json
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '4b0888ccf646'
down_revision = '543e9c24ebce'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contact_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('from_email', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('to_email', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('requested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('comment', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contact_change_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_change'))
    )
    with op.batch_alter_table('contact_change', schema=None) as batch_op:
        batch_op.create_index('ix_contact_change_contract', ['contract_id', 'id'], unique=False)

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), server_default='', nullable=False))
        batch_op.add_column(sa.Column('approved_sha256', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('document_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_contract_customer_credit_code'), ['customer_credit_code'], unique=False)

    _keep_legacy_pdfs()
    with op.batch_alter_table('contract_letter', schema=None) as batch_op:
        batch_op.drop_column('document_sha256')
        batch_op.drop_column('document_pdf')

    with op.batch_alter_table('contract_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('letters_json', sa.Text(), nullable=True))

    with op.batch_alter_table('customer_identity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_identity_credit_code'), ['credit_code'], unique=False)

    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=60), server_default='', nullable=False))
        batch_op.add_column(sa.Column('letter_code', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True))
        batch_op.drop_column('signed_pdf')

    with op.batch_alter_table('signed_document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('source_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('places_json', sa.Text(), nullable=True))

    _fill_credit_codes()
    _name_current_documents()
    _mirror_integration_accounts()


def _keep_legacy_pdfs():
    """Signed evidence is never dropped: the filled letter PDFs (signed by hash before letters were pages of the
    contract) and the PDFs kept on signature rows move to ``signed_document`` as ``legacy:letter`` and
    ``legacy:signature`` rows (unless the same bytes are there already), where /verify still finds them on record."""
    bind = op.get_bind()
    kept = {(contract_id, digest) for contract_id, digest in bind.execute(sa.text(
        "SELECT contract_id, sha256 FROM signed_document")).all()}
    documents = sa.table("signed_document", sa.column("contract_id"), sa.column("kind"), sa.column("sha256"),
                         sa.column("pdf", sa.LargeBinary()), sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    legacy = [*(("legacy:letter", row) for row in bind.execute(sa.text(
                  "SELECT contract_id, document_pdf, coalesce(signed_at, filled_at, attached_at) FROM contract_letter "
                  "WHERE document_pdf IS NOT NULL")).all()),
              *(("legacy:signature", row) for row in bind.execute(sa.text(
                  "SELECT contract_id, signed_pdf, signed_at FROM signature WHERE signed_pdf IS NOT NULL")).all())]
    rows = []
    for kind, (contract_id, pdf, when) in legacy:
        digest = hashlib.sha256(pdf).hexdigest()
        if (contract_id, digest) not in kept:
            kept.add((contract_id, digest))
            if isinstance(when, str):  # SQLite hands a raw query's datetimes back as text (stored as UTC)
                when = datetime.fromisoformat(when)
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            rows.append({"contract_id": contract_id, "kind": kind, "sha256": digest, "pdf": pdf,
                         "created_at": when or datetime.now(timezone.utc)})
    if rows:
        op.bulk_insert(documents, rows)


def _fill_credit_codes():
    """The customer's credit code of each contract, from its current version."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT c.id, v.data_json FROM contract c JOIN contract_version v "
                                "ON v.contract_id = c.id AND v.version = c.current_version")).all()
    for contract_id, data_json in rows:
        code = (json.loads(data_json).get("customer") or {}).get("credit_code") or ""
        if code:
            bind.execute(sa.text("UPDATE contract SET customer_credit_code = :code WHERE id = :id"),
                         {"code": code[:18], "id": contract_id})


def _name_current_documents():
    """Before this revision the newest PDF of a contract that was not the package was its current one."""
    op.get_bind().execute(sa.text(
        "UPDATE contract SET document_id = (SELECT max(d.id) FROM signed_document d WHERE d.contract_id = contract.id "
        "AND d.kind <> 'package' AND d.kind NOT LIKE 'legacy:%' AND d.pdf IS NOT NULL)"))


def _mirror_integration_accounts():
    """Each API user with the customer role acts as a customer identity (issuer qianyue:api, subject its name)."""
    bind = op.get_bind()
    identity = sa.table("customer_identity", sa.column("issuer"), sa.column("subject"), sa.column("provider"),
                        sa.column("name"), sa.column("email"), sa.column("email_verified", sa.Boolean()),
                        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    users = bind.execute(sa.text("SELECT username, display_name, email, roles FROM app_user")).all()
    existing = {row[0] for row in bind.execute(sa.text(
        "SELECT subject FROM customer_identity WHERE issuer = 'qianyue:api'")).all()}
    rows = [{"issuer": "qianyue:api", "subject": username, "provider": "api", "name": display_name or username,
             "email": email or "", "email_verified": bool(email), "created_at": datetime.now(timezone.utc)}
            for username, display_name, email, roles in users
            if "customer" in (roles or "").split(",") and username not in existing]
    if rows:
        op.bulk_insert(identity, rows)


def downgrade():
    with op.batch_alter_table('signed_document', schema=None) as batch_op:
        batch_op.drop_column('places_json')
        batch_op.drop_column('source_sha256')
        batch_op.drop_column('approved_sha256')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_pdf', sa.LargeBinary(), nullable=True))
        batch_op.drop_column('letter_code')
        batch_op.drop_column('field')

    with op.batch_alter_table('customer_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identity_credit_code'))
        batch_op.drop_column('credit_code')

    with op.batch_alter_table('contract_version', schema=None) as batch_op:
        batch_op.drop_column('letters_json')

    with op.batch_alter_table('contract_letter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_pdf', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('document_sha256', sa.VARCHAR(length=64), server_default='', nullable=False))

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_customer_credit_code'))
        batch_op.drop_column('document_id')
        batch_op.drop_column('approved_sha256')
        batch_op.drop_column('customer_credit_code')

    with op.batch_alter_table('contact_change', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_change_contract')

    op.drop_table('contact_change')
