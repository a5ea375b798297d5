"""Verification of signed PDFs and of final packages.

The verdict is pyHanko's overall judgment (``bottom_line``) together with its difference analysis
(``modification_level``, ``docmdp_ok``) and coverage, never the CMS ``valid`` flag alone: a byte flipped
elsewhere leaves ``valid`` true, and an appended revision that paints over the amount is caught only by the
difference analysis. Two checks are added on top of pyHanko:

* the ``/Contents`` hex string must hold the DER signature followed by zero padding only (pyHanko parses the
  DER and ignores what follows, so a flip in the padding would otherwise go unnoticed);
* the last signature (or document timestamp) must cover the entire file: anything appended after it,
  even content the difference analysis tolerates, makes the package not "intact as issued".

A final package (see ``certificate.py``) carries the signed contract as an embedded file: its signatures are
verified too and reported with the package's, and the package's stated SHA-256 must match the attachment.
Difference analysis dominates the cost and is quadratic when every signature reviews every later revision;
the earliest signature's analysis covers all later revisions, so when it finds only permitted changes the
later signatures reuse it (an upper bound), and only when it finds something do all run their own.
Each signature is validated at the time its signature timestamp proves (a document timestamp at its own
token's time), so a package stays verifiable after the 15-minute signer certificates have expired; a
signature without a timestamp is validated now.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as c_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import SignatureCoverageLevel, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

class _OneLine(logging.Filter):
    """pyHanko logs a full traceback for every untrusted path; a forged upload is an expected input here."""

    def filter(self, record):
        record.exc_info = None
        return True


logging.getLogger("pyhanko.sign.validation.generic_cms").addFilter(_OneLine())

PACKAGE_ATTACHMENT = "signed-contract.pdf"
PERMITTED_LEVELS = ("NONE", "LTA_UPDATES", "FORM_FILLING")
PDF_MAGIC = b"%PDF-"


@dataclass
class SignatureReport:
    field: str
    kind: str  # "signature" or "timestamp"
    signer: str
    organisation: str
    signing_time: str | None
    serial: str
    chain_to_our_root: bool
    intact: bool
    valid: bool
    modification_level: str
    docmdp_ok: bool | None
    coverage: str
    timestamped: bool
    ok: bool
    verdict_text_zh: str
    verdict_text_en: str
    document: str = "package"


@dataclass
class VerificationReport:
    valid: bool
    document_sha256: str
    signatures: list[SignatureReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    embedded_sha256: str | None = None
    stated_contract_sha256: str | None = None

    def as_dict(self):
        return asdict(self)


def _tst_time(signed_data) -> datetime | None:
    try:
        return signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception:  # noqa: BLE001
        return None


def _signature_ts_time(signer_info) -> datetime | None:
    try:
        for attr in signer_info["unsigned_attrs"]:
            if attr["type"].native == "signature_time_stamp_token":
                return _tst_time(attr["values"][0]["content"])
    except Exception:  # noqa: BLE001
        return None
    return None


def _padding_ok(embedded_sig) -> bool:
    """The /Contents string is the DER signature followed by zero bytes only."""
    contents = embedded_sig.pkcs7_content
    try:
        der_length = len(cms.ContentInfo.load(contents).dump())
    except Exception:  # noqa: BLE001
        return False
    return not any(contents[der_length:])


def _name_attr(cert, attr):
    try:
        return cert.subject.native.get(attr, "") or ""
    except Exception:  # noqa: BLE001
        return ""


def _verdict(kind, ok, trusted, intact, valid, mod_level, docmdp_ok, padding_ok):
    if ok:
        if kind == "timestamp":
            return "时间戳有效，此后文件未被修改。", "Timestamp valid; the document was not changed after it."
        return ("签名有效：证书链至本平台根证书，签名后文件未被修改（仅有允许的签署或归档更新）。",
                "Signature valid: chains to our root; the document was not changed after signing "
                "(only permitted signing or archival updates).")
    if not intact or not padding_ok:
        return "签名无效：签名覆盖的内容已被篡改。", "Invalid: the signed bytes were altered."
    if not valid:
        return "签名无效：密码学校验失败。", "Invalid: the cryptographic check failed."
    if not trusted:
        return ("签名不可信：证书不链至本平台根证书（外部或伪造的证书）。",
                "Untrusted: the certificate does not chain to our root (a foreign or forged certificate).")
    if mod_level == ModificationLevel.OTHER or docmdp_ok is False:
        return ("签名后文件被修改：检测到不允许的增量更新（例如覆盖或新增内容）。",
                "Document changed after signing: a non-permitted incremental update (e.g. content painted over).")
    return "签名无效。", "Invalid."


def _context(trust_roots, other_certs, crls, moment):
    return ValidationContext(trust_roots=list(trust_roots), other_certs=list(other_certs), crls=list(crls),
                             allow_fetching=False, revocation_mode="soft-fail", moment=moment,
                             retroactive_revinfo=True)


def _verify_one(embedded_sig, trust_roots, other_certs, crls, document, inherited=None):
    """``inherited``: (modification level, docmdp_ok) of the earliest signature's difference analysis, which
    covers every later revision; when it found only permitted changes, later signatures skip their own."""
    is_ts = embedded_sig.sig_object_type == "/DocTimeStamp"
    # the time the signature is proven to exist: its timestamp token; without one, "now" (a self-reported
    # signing time proves nothing, so an expired signer certificate without a timestamp is not accepted)
    moment = _tst_time(embedded_sig.signed_data) if is_ts else _signature_ts_time(embedded_sig.signer_info)
    vc = _context(trust_roots, other_certs, crls, moment)
    padding_ok = _padding_ok(embedded_sig)
    skip_diff = inherited is not None
    if is_ts:
        status = validate_pdf_timestamp(embedded_sig, validation_context=vc, skip_diff=skip_diff)
        ts_ok = True
        timestamped = True
    else:
        status = validate_pdf_signature(embedded_sig, signer_validation_context=vc,
                                        ts_validation_context=_context(trust_roots, other_certs, crls, moment),
                                        skip_diff=skip_diff)
        ts_status = status.timestamp_validity
        timestamped = ts_status is not None
        ts_ok = ts_status is None or (ts_status.intact and ts_status.valid and ts_status.trusted)
    mod_level = status.modification_level
    docmdp_ok = getattr(status, "docmdp_ok", None)
    if skip_diff:  # an upper bound from the earliest signature; nothing at all when it covers the whole file
        whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        mod_level = ModificationLevel.NONE if whole else inherited[0]
        docmdp_ok = None if is_ts else inherited[1]
    bottom_line = status.bottom_line if hasattr(status, "bottom_line") else (
        status.intact and status.valid and status.trusted)
    ok = bool(bottom_line and padding_ok and ts_ok and status.trusted
              and (mod_level is None or mod_level.value <= ModificationLevel.FORM_FILLING.value)
              and docmdp_ok is not False)
    cert = status.signing_cert
    zh, en = _verdict("timestamp" if is_ts else "signature", ok, status.trusted, status.intact, status.valid,
                      mod_level, docmdp_ok, padding_ok)
    when = (moment or embedded_sig.self_reported_timestamp)
    when = when.isoformat() if when else None
    return SignatureReport(
        field=embedded_sig.field_name, kind="timestamp" if is_ts else "signature",
        signer=_name_attr(cert, "common_name"), organisation=_name_attr(cert, "organization_name"),
        signing_time=when, serial=format(cert.serial_number, "x") if cert else "",
        chain_to_our_root=bool(status.trusted), intact=bool(status.intact and padding_ok), valid=bool(status.valid),
        modification_level=mod_level.name if mod_level else "NONE", docmdp_ok=docmdp_ok,
        coverage=status.coverage.name if status.coverage else "", timestamped=timestamped, ok=ok,
        verdict_text_zh=zh, verdict_text_en=en, document=document)


def _embedded_files(reader) -> dict[str, tuple[bytes, str]]:
    out = {}
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except (KeyError, TypeError):
        return out
    for i in range(0, len(names), 2):
        try:
            spec = names[i + 1].get_object()
            out[str(names[i])] = (spec["/EF"]["/F"].get_object().data, str(spec.get("/Desc", "")))
        except (KeyError, TypeError, AttributeError):
            continue
    return out


def _verify_document(pdf_bytes, trust_roots, other_certs, crls, document, report):
    reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
    sigs = reader.embedded_signatures
    if not sigs:
        report.problems.append(f"{document}: no signatures")
        return reader
    sigs = sorted(sigs, key=lambda sig: int(sig.sig_object["/ByteRange"][-2]))
    if all(sig.sig_object_type == "/DocTimeStamp" for sig in sigs):
        # anyone can timestamp any PDF: a timestamp proves when the bytes existed, never that anyone signed them
        report.problems.append(f"{document}: only document timestamps, no signature (只有时间戳，没有任何签名)")
    inherited = None
    for index, sig in enumerate(sigs):
        try:
            verdict = _verify_one(sig, trust_roots, other_certs, crls, document, inherited)
            report.signatures.append(verdict)
            if index == 0 and verdict.modification_level in PERMITTED_LEVELS and verdict.docmdp_ok is not False:
                inherited = (ModificationLevel[verdict.modification_level], verdict.docmdp_ok)
        except Exception as exc:  # noqa: BLE001  a broken signature is a verdict, not a crash
            report.signatures.append(SignatureReport(
                field=str(sig.field_name), kind="signature", signer="", organisation="", signing_time=None,
                serial="", chain_to_our_root=False, intact=False, valid=False, modification_level="UNKNOWN",
                docmdp_ok=None, coverage="", timestamped=False, ok=False,
                verdict_text_zh=f"签名无法校验：{type(exc).__name__}", verdict_text_en=f"Cannot be verified: {exc}",
                document=document))
    # every revision we write ends with a signature (validation data go in the same revision), so the last
    # signature must reach the end of the file: anything after it was added by someone else
    byte_range = [int(x) for x in sigs[-1].sig_object["/ByteRange"]]
    if byte_range[2] + byte_range[3] != len(pdf_bytes):
        report.problems.append(f"{document}: {len(pdf_bytes) - byte_range[2] - byte_range[3]} bytes were added "
                               "after the last signature (最后一个签名之后被追加了内容)")
    return reader


def _as_asn1(certificate):
    if isinstance(certificate, c_x509.Certificate):
        return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    return certificate


def timestamp_token_time(token: bytes, digest: bytes, trust_roots, other_certs=(), crls=()) -> datetime | None:
    """The time an RFC 3161 token proves for the SHA-256 ``digest``; None unless it is intact, over that digest,
    and from a TSA chaining to ``trust_roots``."""
    try:
        signed_data = cms.ContentInfo.load(token)["content"]
        moment = _tst_time(signed_data)
        context = _context([_as_asn1(c) for c in trust_roots], [_as_asn1(c) for c in other_certs], crls, moment)
        status = TimestampSignatureStatus(
            **asyncio.run(validate_tst_signed_data(signed_data, context, lambda _algorithm: digest)))
    except Exception:  # noqa: BLE001  a token that cannot even be read is simply not valid
        return None
    return status.timestamp if status.intact and status.valid and status.trusted else None


def verify_pdf(pdf_bytes: bytes, trust_roots, other_certs=(), crls=()) -> VerificationReport:
    """Verify every signature of ``pdf_bytes`` (and of an embedded signed contract, for a final package)."""
    trust_roots = [_as_asn1(c) for c in trust_roots]
    other_certs = [_as_asn1(c) for c in other_certs]
    report = VerificationReport(valid=False, document_sha256=hashlib.sha256(pdf_bytes).hexdigest())
    if not pdf_bytes.startswith(PDF_MAGIC):
        report.problems.append("not a PDF file")
        return report
    try:
        reader = _verify_document(pdf_bytes, trust_roots, other_certs, crls, "package", report)
        attachments = _embedded_files(reader)
    except Exception as exc:  # noqa: BLE001  unreadable PDF
        report.problems.append(f"cannot read the PDF: {type(exc).__name__}: {exc}")
        return report
    contract, description = attachments.get(PACKAGE_ATTACHMENT, (None, ""))
    if contract is not None:
        report.embedded_sha256 = hashlib.sha256(contract).hexdigest()
        stated = description[len("sha256:"):] if description.startswith("sha256:") else None
        report.stated_contract_sha256 = stated
        if stated != report.embedded_sha256:
            report.problems.append("the embedded contract does not match the SHA-256 stated in the package")
        if contract.startswith(PDF_MAGIC):
            try:
                _verify_document(contract, trust_roots, other_certs, crls, "contract", report)
            except Exception as exc:  # noqa: BLE001
                report.problems.append(f"cannot read the embedded contract: {type(exc).__name__}")
        else:
            report.problems.append("the embedded contract is not a PDF")
    report.valid = bool(report.signatures) and all(s.ok for s in report.signatures) and not report.problems
    return report
