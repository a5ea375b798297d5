"""The finished package verifies; every kind of tampering is detected with a clear verdict; pdfsig agrees."""
import io
import re
import subprocess

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.signing.conftest import CUSTOMER, PROVIDER, embedded_contract, migrated_sqlite
from workflows.signing import pdf as pades
from workflows.signing.pki import DeploymentPKI

pytestmark = pytest.mark.slow


def test_finished_package_verifies(signing, package):
    report = signing.verify(package)
    assert report.valid, (report.problems, [(s.field, s.verdict_text_en) for s in report.signatures])
    fields = {(s.document, s.field) for s in report.signatures}
    assert {("contract", "customer"), ("contract", "letter-1"), ("contract", "provider"),
            ("contract", "platform-certification"), ("package", "platform-certification")} <= fields
    assert sum(1 for s in report.signatures if s.kind == "timestamp") == 2  # contract and package timestamps
    customer = next(s for s in report.signatures if s.field == "customer")
    assert customer.signer == "张三" and customer.organisation == CUSTOMER["organisation"]
    assert customer.chain_to_our_root and customer.intact and customer.timestamped
    assert customer.modification_level in ("FORM_FILLING", "LTA_UPDATES", "NONE")
    assert "签名有效" in customer.verdict_text_zh and "valid" in customer.verdict_text_en
    assert report.embedded_sha256 == report.stated_contract_sha256


def test_every_field_exists_in_the_certified_revision(signed_flow):
    certified, _signed, _records = signed_flow
    names = dict(pades.signature_fields(certified))
    assert {"customer", "provider", "letter-1", "platform-certification"} <= set(names)
    assert names["platform-certification"] and not names["customer"] and not names["provider"]


def test_certificates_name_the_signer_and_the_organisation(signing):
    person = signing.person(CUSTOMER["name"], CUSTOMER["subject_id"], CUSTOMER["organisation"], CUSTOMER["credit_code"])
    again = signing.person(CUSTOMER["name"], CUSTOMER["subject_id"], CUSTOMER["organisation"], CUSTOMER["credit_code"])
    assert person.serial != again.serial  # a fresh key and certificate for each signing act
    assert "UID=https://id.example.com|u-123" in person.cert.subject.rfc4514_string().replace("\\", "")
    seal = signing.seal(PROVIDER["organisation"], PROVIDER["credit_code"])
    assert "NTRCN-91350100MA2XN0001K" in seal.cert.subject.rfc4514_string()
    assert seal.serial == signing.seal(PROVIDER["organisation"], PROVIDER["credit_code"]).serial  # one seal certificate


@pytest.mark.parametrize("fraction", [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.999])
def test_flipping_one_byte_anywhere_is_detected(signing, package, fraction):
    data = bytearray(package)
    position = int(len(data) * fraction)
    data[position] ^= 0x01
    report = signing.verify(bytes(data))
    assert not report.valid, position


def test_flipping_a_byte_in_signature_padding_is_detected(signing, package):
    # the zero padding after the DER signature inside /Contents <...>: pyHanko alone ignores it
    match = list(re.finditer(rb"/Contents <([0-9A-Fa-f]+)>", package))[-1]
    hex_start, hex_end = match.span(1)
    position = hex_end - 10  # well inside the trailing zeros
    assert package[position:position + 1] == b"0"
    data = bytearray(package)
    data[position] = ord("1")
    report = signing.verify(bytes(data))
    assert not report.valid
    assert any(not s.intact for s in report.signatures)


def _paint_over_amount(pdf_bytes):
    """An incremental update that paints a white box over the amount and writes another figure on it."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    cover = b"q 1 1 1 rg 30 700 540 80 re f Q q 0 0 0 rg BT /Helv 14 Tf 40 730 Td (Total: 1.00) Tj ET Q"
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=cover)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_incremental_update_painting_over_the_amount_is_detected(signing, signed_flow):
    _certified, signed, _records = signed_flow
    tampered = _paint_over_amount(signed)
    report = signing.verify(tampered)
    assert not report.valid
    customer = next(s for s in report.signatures if s.field == "customer")
    # the CMS check still passes: only the difference analysis sees it
    assert customer.valid and customer.intact
    assert customer.modification_level == "OTHER" and not customer.ok
    assert "修改" in customer.verdict_text_zh and "changed after signing" in customer.verdict_text_en


def test_resigning_with_a_foreign_ca_is_detected(signing, signed_flow, tmp_path):
    certified, _signed, _records = signed_flow
    foreign_db = migrated_sqlite(tmp_path / "foreign.db")
    foreign = DeploymentPKI.open(foreign_db, b"x")
    foreign_db.dispose()
    key, cert = foreign.issue_signer(CUSTOMER["name"], CUSTOMER["subject_id"], CUSTOMER["organisation"],
                                     CUSTOMER["credit_code"])
    forged = pades.sign(certified, "customer", key, cert, foreign, None, CUSTOMER["name"])
    report = signing.verify(forged)
    assert not report.valid
    customer = next(s for s in report.signatures if s.field == "customer")
    assert customer.intact and not customer.chain_to_our_root and not customer.ok
    assert "不链至本平台根证书" in customer.verdict_text_zh


def test_bytes_appended_after_the_last_signature_are_reported(signing, package):
    report = signing.verify(package + b"\n% appended\n")
    assert not report.valid


def test_a_file_that_is_not_a_pdf_is_refused(signing):
    report = signing.verify(b"GIF89a not a pdf")
    assert not report.valid and report.problems == ["not a PDF file"]


def test_pdfsig_reports_every_signature_valid(package, pki, tmp_path):
    """poppler validates every CMS signature; it cannot validate RFC 3161 document timestamps (it says so).

    Our root goes into an NSS database (certutil, Debian libnss3-tools, installed by scripts/system-deps.sh),
    so pdfsig must also call every signer's certificate trusted.
    """
    nss = tmp_path / "nssdb"
    nss.mkdir()
    (tmp_path / "root.pem").write_bytes(pki.root_pem())
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "qianyue-root", "-t", "C,C,C", "-i",
                    str(tmp_path / "root.pem")], check=True, capture_output=True)
    for name, data in (("package.pdf", package), ("contract.pdf", embedded_contract(package))):
        path = tmp_path / name
        path.write_bytes(data)
        command = ["pdfsig", "-nssdir", f"sql:{nss}", str(path)]
        output = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
        blocks = re.split(r"Signature #\d+:", output)[1:]
        assert blocks, output
        for block in blocks:
            if "Timestamp-" in block:
                continue  # ETSI.RFC3161 document timestamp: "Unable to validate this type of signature"
            assert "Signature Validation: Signature is Valid." in block, block
            assert "Certificate Validation: Certificate is Trusted." in block, block
        checked = sum("Timestamp-" not in b for b in blocks)
        assert checked >= (1 if name == "package.pdf" else 4)


def test_signatures_verify_after_the_signer_certificate_expired(monkeypatch, pki, signing, contract_pdf):
    """Validated at the time the signature timestamp proves, not now; without a timestamp, now."""
    import time
    from datetime import timedelta

    from workflows.signing import pki as pki_module

    monkeypatch.setattr(pki_module, "SIGNER_VALIDITY", timedelta(seconds=2))
    monkeypatch.setattr(pki_module, "CLOCK_SKEW", timedelta(seconds=1))
    certified = pades.certify(contract_pdf, pades.standard_layout(1), pki)
    key, cert = pki.issue_signer("王五", "staff:wangwu")
    stamped = pades.sign(certified, "customer", key, cert, pki, None, "王五", timestamper=signing.timestamper)
    bare = pades.sign(certified, "customer", key, cert, pki, None, "王五")
    time.sleep(3.5)
    assert signing.verify(stamped).valid
    report = signing.verify(bare)
    assert not report.valid and not next(s for s in report.signatures if s.field == "customer").chain_to_our_root
