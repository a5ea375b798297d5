"""The whole signing chain through the real flow: the document certified once the letters are filled, one code for the
customer's act, the provider's signatory and seal, the document timestamp and the final package built by the worker;
verify and pdfsig agree; the completion certificate states what happened."""
import io
import re
import subprocess

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.letters.helpers import at_customer, complete_letters, customer_signs, signing_state, technical_service
from workflows.models import Contract
from workflows.signing.pdf import signature_fields
from workflows.signing.verify import PACKAGE_ATTACHMENT, _embedded_files

pytestmark = pytest.mark.slow


def _pdfsig_blocks(pdf_path, nss):
    output = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf_path)], capture_output=True, text=True,
                            timeout=60).stdout
    return [b for b in re.split(r"Signature #\d+:", output)[1:] if "Timestamp-" not in b], output


def test_contract_from_draft_to_verified_package(app, api, platform, tmp_path):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    shown = signing_state(api, contract_id)["document_sha256"]

    # the customer: without a code, or with a wrong one, a 422 on intent_code that spends nothing
    missing = customer_signs(api, contract_id, intent_code=None)
    assert missing.status_code == 422 and "intent_code" in missing.json["fields"], missing.json
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
    code = api.last_code(contract_id)
    wrong = customer_signs(api, contract_id, intent_code="000000" if code != "000000" else "111111")
    assert wrong.status_code == 422 and wrong.json["fields"]["intent_code"] == "wrong code"
    answer = customer_signs(api, contract_id, intent_code=code)
    assert answer.status_code == 200, answer.json
    again = api.call("POST", f"/contracts/{contract_id}/sign", "customer", {
        "document_sha256": shown, "method": "typed", "typed_name": "徐永立", "consent": True, "intent_code": code})
    assert again.status_code == 409  # signed already: nothing signs twice

    # the provider's signatory countersigns with a code: signatory certificate + the organisation's seal
    assert api.sign("signatory", contract_id)["contract"]["status"] == "active"
    package = api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales")
    assert package.status_code == 200
    audit = api.call("GET", f"/contracts/{contract_id}/audit", "legal").json
    assert audit["ok"] and audit["anchors"] >= 2, audit  # the TSA timestamped the chain after signing and at activation
    pdf = package.data

    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        assert platform.documents.package(session, contract_id).pdf == pdf
        stored = platform.documents.current(session, contract)
        assert stored.kind == "timestamped"
        chain = [row.kind for row in platform.documents.chain(session, contract_id)]
        data = platform.signing.certificate_data(session, contract)
    assert chain == ["certified", "signed:customer", "signed:provider", "timestamped"]
    assert data["sha256_before"] == shown and data["approved_sha256"] == contract.approved_sha256
    assert [(s["role_label"], s["field"]) for s in data["signers"]] == [
        ("甲方（附件一《网络及信息安全承诺书》）", "letter-information_security"), ("甲方", "customer"),
        ("乙方授权代表", "provider-signatory"), ("乙方（合同专用章）", "provider")]
    assert [s["method"] for s in data["signers"]] == ["键入姓名：徐永立", "键入姓名：徐永立", "平台账户姓名签章",
                                                      "合同专用章（机构印章证书签署）"]
    for signer in data["signers"]:
        assert signer["intent"]["channel"] == "email" and "***" in signer["intent"]["destination"]
        assert signer["certificate_serial"] != "-" and signer["signed_at"].utcoffset().total_seconds() == 8 * 3600
    assert [s["document_sha256"] for s in data["signers"][:2]] == [shown, shown]
    assert data["signers"][2]["identity"].startswith("乙方员工账号")  # the staff account, not 'qianyue:staff signatory'
    assert data["verify_url"].endswith("/verify")

    embedded = _embedded_files(PdfFileReader(io.BytesIO(pdf), strict=False))[PACKAGE_ATTACHMENT][0]
    assert embedded == stored.pdf
    fields = dict(signature_fields(embedded))
    assert fields["customer"] and fields["provider"] and fields["provider-signatory"] and fields["letter-information_security"]
    (tmp_path / "package.pdf").write_bytes(pdf)
    certificate = subprocess.run(["pdftotext", str(tmp_path / "package.pdf"), "-"], capture_output=True, text=True).stdout
    assert "北京时间" in certificate and "UTC" not in certificate and "flask" not in certificate
    assert shown in certificate.replace("\n", "").replace(" ", "")

    # flask verify: exit 0, on record; one flipped byte: not valid
    good, bad = tmp_path / "package.pdf", tmp_path / "bad.pdf"
    flipped = bytearray(pdf)
    flipped[len(flipped) // 2] ^= 0x01
    bad.write_bytes(bytes(flipped))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify", str(good)])
    assert result.exit_code == 0, result.output
    assert "On record" in result.output
    assert runner.invoke(args=["verify", str(bad)]).exit_code != 0

    # the public /verify page names each field as the certificate does, not by its name in the PDF
    page = app.test_client().post("/verify", data={"file": (io.BytesIO(pdf), "package.pdf")},
                                  content_type="multipart/form-data").get_data(as_text=True)
    cells = re.findall(r"<td>(?:签署文件包|所附合同)</td>\s*<td>(.*?)</td>", page, re.S)
    named = [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]
    assert named == ["平台认证", "时间戳 Timestamp", "平台认证", "甲方（附件一《网络及信息安全承诺书》）", "甲方", "乙方授权代表",
                     "乙方（合同专用章）", "时间戳 Timestamp"], named
    assert "已签署并加盖时间戳的合同" in page and "(timestamped)" not in page

    # pdfsig with our root in an NSS database: every CMS signature valid and trusted, in the package and the contract
    nss = tmp_path / "nssdb"
    nss.mkdir()
    (tmp_path / "root.pem").write_bytes(platform.toolkit().pki.root_pem())
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "qianyue-root", "-t", "C,C,C", "-i",
                    str(tmp_path / "root.pem")], check=True, capture_output=True)
    (tmp_path / "contract.pdf").write_bytes(embedded)
    for path, at_least in ((good, 1), (tmp_path / "contract.pdf", 5)):  # certification, letter, customer, signatory, seal
        blocks, output = _pdfsig_blocks(path, nss)
        assert len(blocks) >= at_least, output
        for block in blocks:
            assert "Signature Validation: Signature is Valid." in block, block
            assert "Certificate Validation: Certificate is Trusted." in block, block


def test_the_package_is_built_by_the_worker_never_on_a_get(api, platform):
    contract_id = at_customer(api, technical_service())
    api.sign("customer", contract_id)
    (task,) = api.tasks("signatory", contract_id)
    body = api.signing_body("signatory", task, contract_id)
    assert api.call("POST", f"/tasks/{task['id']}/complete", "signatory", body).status_code == 200
    waiting = api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales")
    assert waiting.status_code == 202 and waiting.headers["Retry-After"]
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 202  # a GET builds nothing
    with platform.db.read() as session:
        kinds = sorted(job.kind for job in platform.jobs.unfinished(session, contract_id))
    # the TSA anchors the chain after the countersignature; the renewal notice waits as the instance's timer job
    assert kinds == ["audit.anchor", "package.finalize", "process.timer"]
    api.run_jobs()
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 200


def test_intent_cli_reads_the_last_code_in_development_only(app, api, monkeypatch):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
    runner = app.test_cli_runner()
    result = runner.invoke(args=["intent", "last-code", str(contract_id)])
    assert result.exit_code == 0 and result.output.strip() == api.last_code(contract_id)
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    assert runner.invoke(args=["intent", "last-code", str(contract_id)]).exit_code == 2


def test_the_activation_gate_refuses_a_signed_pdf_that_no_longer_verifies(app, api, platform):
    """A tampered current signed PDF blocks the countersignature (409 'document'), before any code is sent."""
    contract_id = at_customer(api, technical_service())
    api.sign("customer", contract_id)
    with platform.db.write() as session:
        row = platform.documents.current(session, session.get(Contract, contract_id))
        tampered = bytearray(row.pdf)
        tampered[len(tampered) // 2] ^= 0x01
        row.pdf = bytes(tampered)
    (task,) = api.tasks("signatory", contract_id)
    refused = api.call("POST", f"/tasks/{task['id']}/intent", "signatory")
    assert refused.status_code == 409 and "does not verify" in refused.json["fields"]["document"], refused.json
