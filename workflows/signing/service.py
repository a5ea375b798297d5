"""``SigningService``: what the customer signing page, the countersigning step and activation call.

    service = SigningService(platform, pki, timestamper)
    certified = service.prepare(contract_pdf, letter_titles)                  # when ready for signature
    pdf, record = service.sign_as(certified, "customer", identity, stamp_png, evidence)   # each signer
    package = service.finalize(pdf, certificate_data)                         # at activation

Every produced PDF's SHA-256 can be recorded with ``record_document`` so that ``/verify`` can say whether
an uploaded file matches a contract on record.
"""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from sqlmodel import select

from . import pdf as pades
from . import seals
from ..models import SignedDocument
from .pki import DeploymentPKI, passphrase_from_environment
from .tsa import TimestampAuthority, timestamper_for
from .verify import VerificationReport, verify_pdf

CUSTOMER_FIELD, PROVIDER_FIELD = "customer", "provider"
ROLE_LABELS = {"customer": "甲方", "provider": "乙方", "letter": "承诺书"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SigningService:
    def __init__(self, platform, pki: DeploymentPKI, timestamper=None):
        self.platform = platform
        self.pki = pki
        self.authority = TimestampAuthority(pki.tsa, pki.chain)
        self.timestamper = timestamper or timestamper_for(None, self.authority)

    @classmethod
    def from_settings(cls, platform, instance_path, app_env, tsa_url=None, passphrase=None, licensed=None):
        """The deployment's service: its PKI from the platform's database (one for every process and node), under
        the licensed CA when one is configured (``LicensedCA``), else under the root generated on first use."""
        passphrase = passphrase or passphrase_from_environment(Path(instance_path), app_env)
        service = cls(platform, DeploymentPKI.open(platform.db, passphrase, licensed))
        service.timestamper = timestamper_for(tsa_url, service.authority)
        return service

    # -- the three steps ------------------------------------------------------------------------------------------
    def layout(self, contract_pdf: bytes, letter_titles=(), letter_pages=None) -> list[pades.FieldSpec]:
        pages = int(PdfFileReader(io.BytesIO(contract_pdf), strict=False).root["/Pages"]["/Count"])
        specs = pades.standard_layout(pages)
        for i, _title in enumerate(letter_titles, 1):
            if letter_pages and i - 1 < len(letter_pages):
                specs.append(pades.FieldSpec(f"letter-{i}", letter_pages[i - 1], (315, 80, 535, 190)))
            else:  # no letter pages yet: a row of letter fields above the two parties' fields on the last page
                x = 60 + ((i - 1) % 4) * 122
                y = 200 + ((i - 1) // 4) * 75
                specs.append(pades.FieldSpec(f"letter-{i}", pages - 1, (x, y, x + 115, y + 70)))
        return specs

    def prepare(self, contract_pdf: bytes, letter_titles=(), letter_pages=None) -> bytes:
        """Certify the contract PDF with every signature field laid out (DocMDP: form filling and signing)."""
        return pades.certify(contract_pdf, self.layout(contract_pdf, letter_titles, letter_pages), self.pki,
                             timestamper=self.timestamper)

    def sign_as(self, pdf_bytes: bytes, field: str, identity: dict, stamp_png: bytes | None, evidence: dict | None = None):
        """Sign ``field`` for ``identity`` and return (new pdf, signature record).

        ``identity``: name, subject_id (OIDC ``issuer|subject`` or ``staff:<username>``), organisation, credit_code,
        email, role (customer / provider / letter), method (drawn / typed / seal), and ``seal: True`` to sign with
        the provider organisation's seal certificate instead of a per-event personal certificate.
        ``stamp_png`` is the drawn signature or seal image; None draws a typed signature (or the round seal).
        ``evidence``: intent check (IntentService.verify), ip, user_agent, consent text.
        """
        evidence = dict(evidence or {})
        when = datetime.now(timezone.utc)
        if identity.get("seal"):
            holder = self.pki.seal_certificate(identity["organisation"], identity["credit_code"])
            key, cert = holder.key, holder.cert
            image = stamp_png or seals.round_seal_png(identity["organisation"])
        else:
            key, cert = self.pki.issue_signer(identity["name"], identity.get("subject_id", ""),
                                              identity.get("organisation", ""), identity.get("credit_code", ""),
                                              identity.get("email", ""))
            image = stamp_png or seals.signature_image_from_text(identity["name"])
        stamp = seals.stamp_png(image, identity["name"], when, identity.get("caption", ""))
        reason = f"{ROLE_LABELS.get(identity.get('role', ''), '')}签署 {identity.get('role', '')}".strip()
        try:
            signed = pades.sign(pdf_bytes, field, key, cert, self.pki, stamp, identity["name"], reason,
                                timestamper=self.timestamper)
        finally:
            if not identity.get("seal"):
                del key  # the per-event key signs once; nothing keeps a reference to it
        record = {
            "field": field, "role": identity.get("role", ""), "name": identity["name"],
            "identity": identity.get("subject_id", ""), "organisation": identity.get("organisation", ""),
            "credit_code": identity.get("credit_code", ""), "method": identity.get("method", "seal" if identity.get("seal") else "typed"),
            "certificate_serial": format(cert.serial_number, "x"), "certificate_subject": cert.subject.rfc4514_string(),
            "signed_at": when.isoformat(), "sha256_before": sha256(pdf_bytes), "sha256_after": sha256(signed),
            "intent": evidence.get("intent"), "ip": evidence.get("ip", ""), "user_agent": evidence.get("user_agent", ""),
            "consent_text": evidence.get("consent_text", ""),
        }
        return signed, record

    def finalize(self, pdf_bytes: bytes, certificate_data: dict) -> bytes:
        """Activation: document-timestamp the signed contract, then build, certify and timestamp the package.

        ``certificate_data`` as for ``certificate.render_certificate_html`` (sha256_after is filled in here).
        """
        from .certificate import build_package

        contract = pades.timestamp(pdf_bytes, self.timestamper, self.pki)
        data = {**certificate_data, "sha256_after": sha256(contract)}
        package = build_package(contract, data)
        package = pades.certify(package, [], self.pki, timestamper=self.timestamper, permissions=MDPPerm.NO_CHANGES,
                                reason="签署完成证明 Certificate of completion")
        return pades.timestamp(package, self.timestamper, self.pki)

    # -- verification and records ----------------------------------------------------------------------------------
    def verify(self, pdf_bytes: bytes) -> VerificationReport:
        return verify_pdf(pdf_bytes, [self.pki.root.cert], self.pki.chain, self.pki.asn1_crls())

    def record_document(self, session, contract_id: int, kind: str, pdf_bytes: bytes) -> str:
        digest = sha256(pdf_bytes)
        session.add(SignedDocument(contract_id=contract_id, kind=kind, sha256=digest))
        session.flush()
        return digest

    def find_on_record(self, session, digest: str):
        """The records of a SHA-256 (the uploaded file, or the contract embedded in a package)."""
        return list(session.exec(select(SignedDocument).where(SignedDocument.sha256 == digest)))
