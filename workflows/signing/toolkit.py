"""``SigningToolkit``: the cryptography of signing a contract, without any contract logic.

    toolkit = SigningToolkit.open(db, settings)          # the deployment's PKI and time-stamping authority
    certified = toolkit.certify(pdf, places)            # the platform's DocMDP signature, every signature field
    signer = toolkit.person(name, subject_id, ...)      # a fresh key and 15-minute certificate for one act
    pdf = toolkit.sign(certified, "customer", signer, stamp_png, name, reason)
    timestamped, package = toolkit.finalize(pdf, certificate_data)
    report = toolkit.verify(package)

The use cases (``workflows.services.signing``) decide who signs what, when, and keep the evidence.
"""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps import TimestampRequestError

from ..errors import Unavailable
from ..fingerprints import sha256_hex
from . import pdf as pades
from .certificate import build_package
from .pki import DeploymentPKI, signing_passphrase
from .tsa import TimestampAuthority, timestamper_for
from .verify import VerificationReport, timestamp_token_time, verify_pdf


@contextmanager
def timestamping():
    """Every signature here is timestamped: a time-stamping authority that does not answer is Unavailable (503 to a
    signer, a retried try to a job), not a fault of ours."""
    try:
        yield
    except TimestampRequestError as exc:
        raise Unavailable("the time-stamping service did not answer; nothing was signed, try again in a moment") from exc


@dataclass(frozen=True)
class SigningSettings:
    """Where the deployment's PKI comes from: the passphrase of its keys (``SIGNING_KEY_PASSPHRASE``; without it,
    development keeps one in the instance folder, made when the PKI is first opened), a licensed CA (else a root
    generated once into the database), and an external time-stamping authority (else the deployment's own)."""

    instance_path: str
    app_env: str
    licensed: object = None  # pki.LicensedCA
    tsa_url: str | None = None
    tsa_token: str | None = None  # the API token sent to a TSA_URL that is another node's POST /tsa
    passphrase_setting: str | None = None  # SIGNING_KEY_PASSPHRASE

    def passphrase(self) -> bytes:
        return signing_passphrase(self.passphrase_setting, Path(self.instance_path), self.app_env)


@dataclass(frozen=True)
class Signer:
    """A key and its certificate: a person's for one signing act, or an organisation's seal."""

    key: object
    cert: object

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "x")


class SigningToolkit:
    def __init__(self, pki: DeploymentPKI, tsa_url: str | None = None, tsa_token: str | None = None):
        self.pki = pki
        self.authority = TimestampAuthority(pki.tsa)
        self.timestamper = timestamper_for(tsa_url, self.authority, tsa_token)

    @classmethod
    def open(cls, db, settings: SigningSettings) -> SigningToolkit:
        return cls(DeploymentPKI.open(db, settings.passphrase(), settings.licensed), settings.tsa_url,
                   settings.tsa_token)

    def certify(self, pdf_bytes: bytes, places) -> bytes:
        """The platform certifies the document (DocMDP: form filling and signing allowed), creating a signature field
        at each place in the same revision."""
        specs = [pades.FieldSpec(place.field_name, place.page_index, place.box) for place in places]
        with timestamping():
            return pades.certify(pdf_bytes, specs, self.pki, timestamper=self.timestamper)

    def person(self, name, subject_id, organisation="", credit_code="", email="") -> Signer:
        """A fresh key and a ~15-minute certificate naming the signer, for one signing act; never stored."""
        key, cert = self.pki.issue_signer(name, subject_id, organisation, credit_code, email)
        return Signer(key, cert)

    def seal(self, organisation, credit_code) -> Signer:
        """The organisation's seal (合同专用章) certificate."""
        holder = self.pki.seal_certificate(organisation, credit_code)
        return Signer(holder.key, holder.cert)

    def sign(self, pdf_bytes: bytes, field: str, signer: Signer, stamp_png: bytes | None, name: str,
             reason: str = "") -> bytes:
        """One incremental PAdES signature (timestamp, validation data) into an existing field, showing the stamp."""
        with timestamping():
            return pades.sign(pdf_bytes, field, signer.key, signer.cert, self.pki, stamp_png, name, reason,
                              timestamper=self.timestamper)

    def finalize(self, signed_pdf: bytes, certificate_data: dict) -> tuple[bytes, bytes]:
        """Activation: the document timestamp over the signed contract (B-LTA), then the package (completion
        certificate with the timestamped contract embedded byte for byte), certified and timestamped.
        Returns (timestamped contract, package)."""
        with timestamping():
            contract = pades.timestamp(signed_pdf, self.timestamper, self.pki)
            package = build_package(contract, {**certificate_data, "sha256_after": sha256_hex(contract)})
            package = pades.certify(package, [], self.pki, timestamper=self.timestamper,
                                    permissions=MDPPerm.NO_CHANGES, reason="签署完成证明 Certificate of completion")
            return contract, pades.timestamp(package, self.timestamper, self.pki)

    def verify(self, pdf_bytes: bytes) -> VerificationReport:
        return verify_pdf(pdf_bytes, [self.pki.root.cert], self.pki.chain, self.pki.asn1_crls())

    def timestamp_digest(self, digest: bytes) -> bytes:
        """An RFC 3161 token (DER) over a SHA-256 digest, from the deployment's TSA."""
        with timestamping():
            return asyncio.run(self.timestamper.async_timestamp(digest, "sha256")).dump()

    def timestamp_time(self, token: bytes, digest: bytes):
        """When ``token`` proves ``digest`` existed; None when it is not a valid token of a TSA we trust."""
        return timestamp_token_time(token, digest, [self.pki.root.cert], self.pki.chain, self.pki.asn1_crls())
