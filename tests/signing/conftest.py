"""Signing fixtures: one deployment PKI and one finished package per test session (PDF work is the slow part)."""
import io

import pytest

from workflows import migrate
from workflows.db import Database
from workflows.signing.pki import DeploymentPKI
from workflows.signing.service import SigningService
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
    return SigningService(None, pki)


@pytest.fixture(scope="session")
def contract_pdf():
    from weasyprint import HTML

    return HTML(string=f"<html lang='zh'><body style='font-family: \"Noto Serif CJK SC\"'><h1>技术服务合同</h1>"
                       f"<p>{AMOUNT_TEXT}</p></body></html>").write_pdf()


CUSTOMER = {"name": "张三", "subject_id": "https://id.example.com|u-123", "organisation": "福州某某科技有限公司",
            "credit_code": "91350100M000100Y43", "email": "zhang@example.com", "role": "customer", "method": "drawn"}
PROVIDER = {"name": "陆洋", "organisation": "中国电信股份有限公司福州分公司", "credit_code": "91350100MA2XN0001K",
            "seal": True, "role": "provider", "method": "seal", "subject_id": "staff:signatory"}


@pytest.fixture(scope="session")
def signed_flow(signing, contract_pdf):
    """(certified, signed contract with customer + letter + provider, records)."""
    certified = signing.prepare(contract_pdf, ["信息安全承诺书"])
    evidence = {"intent": {"channel": "email", "destination": "z***g@example.com", "issued_at": "2026-01-01T00:00:00+00:00",
                           "verified_at": "2026-01-01T00:01:00+00:00"}, "ip": "203.0.113.7", "user_agent": "pytest"}
    pdf, customer = signing.sign_as(certified, "customer", CUSTOMER, None, evidence)
    pdf, letter = signing.sign_as(pdf, "letter-1", {**CUSTOMER, "role": "letter"}, None, evidence)
    pdf, provider = signing.sign_as(pdf, "provider", PROVIDER, None, {"ip": "10.0.0.5"})
    return certified, pdf, [customer, letter, provider]


@pytest.fixture(scope="session")
def package(signing, signed_flow, contract_pdf):
    _certified, pdf, records = signed_flow
    data = {"contract": {"number": "闽榕技2611001", "title": "技术服务合同", "customer": CUSTOMER["organisation"],
                         "provider": PROVIDER["organisation"]},
            "sha256_before": records[0]["sha256_before"], "audit_head": "0" * 64, "audit_events": 9,
            "signers": [{**r, "role_label": r["role"]} for r in records]}
    return signing.finalize(pdf, data)


def embedded_contract(package_pdf):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return _embedded_files(PdfFileReader(io.BytesIO(package_pdf), strict=False))[PACKAGE_ATTACHMENT][0]
