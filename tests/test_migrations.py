"""The Alembic migrations build exactly the schema the models describe, and can be undone."""
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

from tests.letters.helpers import activate, at_customer, complete_letters, customer_signs, network_line, technical_service
from workflows import migrate
from workflows.db import Database
from workflows.models import Contract, Instalment
from workflows.models.register import is_declared


def test_migrations_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": is_declared})  # as migrations/env.py
        assert compare_metadata(context, SQLModel.metadata) == []
    migrate.downgrade(db, "base")
    assert inspect(db.engine).get_table_names() == ["alembic_version"]
    migrate.upgrade(db)  # and up again
    db.dispose()


def test_upgrade_twice_is_harmless(database_url):
    db = Database(database_url)
    head = ScriptDirectory.from_config(migrate.alembic_config(db)).get_current_head()
    tables = set(inspect(db.engine).get_table_names())
    migrate.upgrade(db)
    migrate.upgrade(db)
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    assert set(inspect(db.engine).get_table_names()) == tables and "signed_document" in tables
    db.dispose()


BEFORE_ONE_DOCUMENT = "543e9c24ebce"  # the revision before letters became pages of the signed contract


def test_a_database_in_use_goes_down_and_up_and_keeps_signed_evidence(api, platform):
    """With contracts, letters bound to signatures and PDFs in it (foreign keys everywhere: SQLite's table rebuilds
    must run with them off), and the PDFs an older version kept on letters and signatures survive the upgrade."""
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id).status_code == 200
    migrate.downgrade(platform.db, BEFORE_ONE_DOCUMENT)
    letter_pdf, signature_pdf = b"%PDF-1.7 a filled letter, signed by hash", b"%PDF-1.7 kept on a signature row"
    with platform.db.engine.begin() as connection:  # what the older version stored
        connection.execute(text("UPDATE contract_letter SET document_pdf = :pdf WHERE contract_id = :id"),
                           {"pdf": letter_pdf, "id": contract_id})
        connection.execute(text("UPDATE signature SET signed_pdf = :pdf WHERE id = (SELECT min(id) FROM signature)"),
                           {"pdf": signature_pdf})
    migrate.upgrade(platform.db)
    with platform.db.engine.connect() as connection:
        legacy = dict(connection.execute(text("SELECT kind, pdf FROM signed_document WHERE kind LIKE 'legacy:%'")).all())
        bound = connection.execute(text("SELECT count(*) FROM contract_letter WHERE signature_id IS NOT NULL")).scalar()
    assert {kind: bytes(pdf) for kind, pdf in legacy.items()} == {"legacy:letter": letter_pdf,
                                                                   "legacy:signature": signature_pdf}
    assert bound == 1 and api.call("GET", f"/contracts/{contract_id}", "sales").status_code == 200
    (task,) = api.tasks("signatory", contract_id)  # signed by the customer before the upgrade: no places to sign at
    refused = api.complete_sign("signatory", task["id"], contract_id)
    assert refused.status_code == 409 and "before signature places" in refused.json["message"], refused.json


BEFORE_PAGES = "5d1f7c2a9e43"  # the revision before the document's pages were drawn as images


def test_the_upgrade_draws_the_pages_of_documents_already_prepared(api, platform):
    """A contract waiting for its customer, its document prepared by a release that drew no pages: the upgrade queues
    the job that draws them, so the customer reads it on a phone without anything changing."""
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    migrate.downgrade(platform.db, BEFORE_PAGES)
    migrate.upgrade(platform.db)
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        assert platform.documents.page_listing(session, contract).pages == []
    api.run_jobs()
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        listing = platform.documents.page_listing(session, contract)
        assert listing.pages and listing.source_sha256 == platform.documents.current(session, contract).source_sha256


BEFORE_PAYMENT_PLANS = "d5f1a7c3e920"  # the revision before instalments were tracked


def test_the_upgrade_gives_contracts_already_active_their_instalments(api, platform):
    """A contract that became active under a release without payment plans gets its instalments from the upgrade."""
    contract_id = activate(api, network_line())
    migrate.downgrade(platform.db, BEFORE_PAYMENT_PLANS)
    migrate.upgrade(platform.db)
    with platform.db.read() as session:
        rows = session.exec(select(Instalment).where(Instalment.contract_id == contract_id)
                            .order_by(Instalment.seq)).all()
    assert [(r.seq, r.due_date.isoformat(), r.amount, r.paid) for r in rows] == [
        (1, "2022-12-31", Decimal("359600.00"), Decimal("0.00")), (2, "2023-06-01", Decimal("90400.00"), Decimal("0.00"))]
