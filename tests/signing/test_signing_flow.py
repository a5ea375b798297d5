"""The whole signing chain through the real flow: one certified PDF, intent codes, the provider's seal and signatory,
the document timestamp at activation and the final package from SigningService.finalize; verify and pdfsig agree."""
import re
import subprocess
import time

import pytest

from tests.letters.helpers import at_customer, complete_letters, technical_service
from webapp import create_app
from workflows.signing.verify import PACKAGE_ATTACHMENT, _embedded_files

pytestmark = pytest.mark.slow


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                      "INSTANCE_PATH": str(tmp_path), "TESTING": True, "SIGNING_PADES": True})
    yield app
    app.extensions["qianyue"].db.dispose()


def _pdfsig_blocks(pdf_path, nss):
    output = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf_path)], capture_output=True, text=True,
                            timeout=60).stdout
    return [b for b in re.split(r"Signature #\d+:", output)[1:] if "Timestamp-" not in b], output


def test_contract_from_draft_to_verified_package(app, api, platform, tmp_path):
    started = time.perf_counter()
    contract_id = at_customer(api, technical_service())

    # the customer: a sign decision without a code, or with a wrong one, is a 422 on intent_code
    (task,) = api.tasks("customer", contract_id)
    missing = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {"decision": "sign"})
    assert missing.status_code == 422 and "intent_code" in missing.json["fields"], missing.json
    code = api.intent_code("customer", task["id"], contract_id)
    wrong = api.call("POST", f"/tasks/{task['id']}/complete", "customer",
                     {"decision": "sign", "intent_code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and wrong.json["fields"]["intent_code"] == "wrong code"
    answer = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {"decision": "sign", "intent_code": code})
    assert answer.status_code == 200, answer.json
    assert answer.json["contract"]["status"] == "countersigning"
    complete_letters(api, contract_id)

    # the provider's signatory countersigns with a code: signatory certificate + the organisation's seal
    assert api.sign("signatory", contract_id)["contract"]["status"] == "active"
    package = api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales")
    assert package.status_code == 200
    elapsed = time.perf_counter() - started
    print(f"\nfull signing lifecycle (create → active → package): {elapsed:.2f} s")
    pdf = package.data

    from webapp.signing_flow import certificate_data, current, package_row
    from workflows.models import Contract
    with platform.db.read() as session:
        assert package_row(session, contract_id).pdf == pdf
        stored = current(session, contract_id)
        assert stored.kind == "timestamped"
        data = certificate_data(session, session.get(Contract, contract_id))
    roles = [s["role_label"] for s in data["signers"]]
    assert roles[0] == "甲方" and roles[-1].startswith("乙方") and len(roles) == 4  # customer, its letter, signatory, seal
    for signer in data["signers"]:
        assert signer["intent"]["channel"] == "email" and "***" in signer["intent"]["destination"]
        assert signer["certificate_serial"] != "-"

    embedded = _embedded_files(__import__("pyhanko.pdf_utils.reader", fromlist=["x"]).PdfFileReader(
        __import__("io").BytesIO(pdf), strict=False))[PACKAGE_ATTACHMENT][0]
    assert embedded == stored.pdf
    from workflows.signing.pdf import signature_fields
    fields = dict(signature_fields(embedded))
    assert fields["customer"] and fields["provider"] and fields["provider-signatory"]

    # flask verify: exit 0, on record; one flipped byte: not valid
    good, bad = tmp_path / "package.pdf", tmp_path / "bad.pdf"
    good.write_bytes(pdf)
    flipped = bytearray(pdf)
    flipped[len(flipped) // 2] ^= 0x01
    bad.write_bytes(bytes(flipped))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify", str(good)])
    assert result.exit_code == 0, result.output
    assert "On record" in result.output
    assert runner.invoke(args=["verify", str(bad)]).exit_code != 0

    # pdfsig with our root in an NSS database: every CMS signature valid and trusted, in the package and the contract
    from webapp.verify import signing_service
    nss = tmp_path / "nssdb"
    nss.mkdir()
    (tmp_path / "root.pem").write_bytes(signing_service(app).pki.root_pem())
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "qianyue-root", "-t", "C,C,C", "-i",
                    str(tmp_path / "root.pem")], check=True, capture_output=True)
    (tmp_path / "contract.pdf").write_bytes(embedded)
    for path, at_least in ((good, 1), (tmp_path / "contract.pdf", 4)):  # certification, customer, signatory, seal
        blocks, output = _pdfsig_blocks(path, nss)
        assert len(blocks) >= at_least, output
        for block in blocks:
            assert "Signature Validation: Signature is Valid." in block, block
            assert "Certificate Validation: Certificate is Trusted." in block, block


def test_intent_cli_reads_the_last_code_in_development_only(app, api, monkeypatch):
    contract_id = at_customer(api, technical_service())
    (task,) = api.tasks("customer", contract_id)
    code = api.intent_code("customer", task["id"], contract_id)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["intent", "last-code", str(contract_id)])
    assert result.exit_code == 0 and result.output.strip() == code
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    assert runner.invoke(args=["intent", "last-code", str(contract_id)]).exit_code == 2


def test_the_activation_gate_refuses_a_signed_pdf_that_no_longer_verifies(app, api, platform):
    """A tampered current signed PDF blocks the countersignature (409 'document'), like a missing letter does."""
    from webapp.signing_flow import current
    contract_id = at_customer(api, technical_service())
    api.sign("customer", contract_id)
    complete_letters(api, contract_id)
    with platform.db.write() as session:
        row = current(session, contract_id)
        tampered = bytearray(row.pdf)
        tampered[len(tampered) // 2] ^= 0x01
        row.pdf = bytes(tampered)
    (task,) = api.tasks("signatory", contract_id)
    refused = api.complete_sign("signatory", task["id"], contract_id)
    assert refused.status_code == 409 and "does not verify" in refused.json["fields"]["document"], refused.json
