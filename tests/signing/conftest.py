"""Signing fixtures: one deployment PKI and one finished package per test session (PDF work is the slow part)."""
import hashlib
import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from tests.conftest import load_fixture
from tests.process.test_lifecycle import create, submit
from workflows import migrate
from workflows.db import Database
from workflows.documents import SignaturePlace
from workflows.models import HistoryEvent
from workflows.signing.audit import chain_rows
from workflows.signing.pki import DeploymentPKI
from workflows.signing.toolkit import SigningToolkit
from workflows.signing.verify import PACKAGE_ATTACHMENT, _embedded_files

AMOUNT_TEXT = "合同总金额：人民币 1,080,000.00 元"


PASSPHRASE = b"test-passphrase"


def migrated_sqlite(path) -> Database:
    """A database of its own at ``path`` (the PKI lives in the database, as in a deployment)."""
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    return db


@pytest.fixture(scope="session")
def pki_database(tmp_path_factory):
    db = migrated_sqlite(tmp_path_factory.mktemp("pki") / "pki.db")
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def pki(pki_database):
    return DeploymentPKI.open(pki_database, PASSPHRASE)


@pytest.fixture(scope="session")
def signing(pki):
    return SigningToolkit(pki)


@pytest.fixture(scope="session")
def contract_pdf():
    from weasyprint import HTML

    return HTML(string=f"<html lang='zh'><body style='font-family: \"Noto Serif CJK SC\"'><h1>技术服务合同</h1>"
                       f"<p>{AMOUNT_TEXT}</p></body></html>").write_pdf()


CUSTOMER = {"name": "张三", "subject_id": "https://id.example.com|u-123", "organisation": "福州某某科技有限公司",
            "credit_code": "91350100M000100Y43", "email": "zhang@example.com", "role": "customer", "method": "drawn"}
PROVIDER = {"name": "陆洋", "organisation": "中国电信股份有限公司福州分公司", "credit_code": "91350100MA2XN0001K",
            "seal": True, "role": "provider", "method": "seal", "subject_id": "staff:signatory"}


PLACES = [SignaturePlace("customer", 0, (60, 80, 280, 190), ()), SignaturePlace("letter-1", 0, (60, 200, 175, 270), ()),
          SignaturePlace("provider", 0, (315, 80, 535, 190), ())]


def sign_as(toolkit, pdf, field, who):
    """One signature into ``field`` by ``who`` (a person's certificate for this act, or the organisation's seal)."""
    signer = (toolkit.seal(who["organisation"], who["credit_code"]) if who.get("seal") else
              toolkit.person(who["name"], who["subject_id"], who["organisation"], who["credit_code"], who.get("email", "")))
    signed = toolkit.sign(pdf, field, signer, None, who["name"], f"{who['role']} signs")
    return signed, {"field": field, "role_label": who["role"], "name": who["name"], "identity": who["subject_id"],
                    "organisation": who["organisation"], "credit_code": who["credit_code"], "method": who["method"],
                    "intent": None, "signed_at": datetime.now(timezone.utc), "ip": "", "user_agent": "",
                    "certificate_serial": signer.serial, "document_sha256": hashlib.sha256(pdf).hexdigest()}


@pytest.fixture(scope="session")
def signed_flow(signing, contract_pdf):
    """(certified, signed contract with customer + letter + provider, records)."""
    certified = signing.certify(contract_pdf, PLACES)
    pdf, customer = sign_as(signing, certified, "customer", CUSTOMER)
    pdf, letter = sign_as(signing, pdf, "letter-1", {**CUSTOMER, "role": "letter"})
    pdf, provider = sign_as(signing, pdf, "provider", PROVIDER)
    return certified, pdf, [customer, letter, provider]


@pytest.fixture(scope="session")
def package(signing, signed_flow, contract_pdf):
    certified, pdf, records = signed_flow
    data = {"contract": {"number": "闽榕技2611001", "title": "技术服务合同", "customer": CUSTOMER["organisation"],
                         "provider": PROVIDER["organisation"]},
            "sha256_before": hashlib.sha256(certified).hexdigest(), "audit_head": "0" * 64, "audit_events": 9,
            "verify_url": "http://127.0.0.1:5000/verify", "signers": records}
    return signing.finalize(pdf, data)[1]


def embedded_contract(package_pdf):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return _embedded_files(PdfFileReader(io.BytesIO(package_pdf), strict=False))[PACKAGE_ATTACHMENT][0]


@pytest.fixture
def returned_contract_id(api):
    """A contract with a short history: created, submitted, returned by legal with a comment."""
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "return", "第十一条联系人与首页不一致")
    return contract["id"]


def rewrite_the_chain(session, contract_id, event_id, comment):
    """What whoever can write the database can do: edit an event and recompute every hash after it, and the head."""
    connection = session.connection()
    connection.execute(text("UPDATE history_event SET comment = :c WHERE id = :id"), {"c": comment, "id": event_id})
    rows = [dict(r) for r in connection.execute(text(
        "SELECT id, contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at "
        "FROM history_event WHERE contract_id = :id ORDER BY id").columns(at=HistoryEvent.__table__.c.at.type),
        {"id": contract_id}).mappings()]
    head = chain_rows(rows, "")
    for row in rows:
        connection.execute(text("UPDATE history_event SET prev_hash = :p, hash = :h WHERE id = :id"),
                           {"p": row["prev_hash"], "h": row["hash"], "id": row["id"]})
    connection.execute(text("UPDATE contract SET audit_head = :h WHERE id = :id"), {"h": head, "id": contract_id})
