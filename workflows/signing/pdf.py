"""PAdES on the contract PDF with pyHanko.

1. :func:`certify`: the platform's certification signature (DocMDP level 2: form filling and signing
   allowed), invisible, in the same revision that creates EVERY signature field (customer, each letter,
   provider). Fields added after a certification signature would be judged as changes by validators.
2. :func:`sign`: one incremental approval signature per signer into its field, with a visible stamp whose
   name and time are drawn into the PNG (no CJK font is parsed during signing), a signature timestamp
   and long-term validation data (certificates and CRLs in the DSS: PAdES B-LT).
3. :func:`timestamp`: a document timestamp over everything (B-LTA).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import (DSSContentSettings, PdfTimeStamper, SigDSSPlacementPreference,
                                              TimestampDSSContentSettings)
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .pki import DeploymentPKI, Identity, to_asn1_cert, to_asn1_key

class _NoFetchingNotice(logging.Filter):
    """pyHanko warns on every signature that fetching is off; here that is by design (our own CRLs are given)."""

    def filter(self, record):
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_NoFetchingNotice())

CERTIFICATION_FIELD = "platform-certification"
# validation data in the same revision as the signature / before the timestamp: every revision ends with a
# signature, so "the last signature covers the whole file" holds for a finished document
TS_DSS = TimestampDSSContentSettings(include_vri=False, update_before_ts=True)
SIG_DSS = DSSContentSettings(include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
                             next_ts_settings=TS_DSS)
A4 = (595, 842)


@dataclass(frozen=True)
class FieldSpec:
    """A signature field: its name, the page (0-based; -1 = last page) and its box (x1, y1, x2, y2) in points."""

    name: str
    page: int
    box: tuple[int, int, int, int]


def standard_layout(page_count: int, letter_pages: list[int] = (), customer="customer", provider="provider",
                    letter_prefix="letter") -> list[FieldSpec]:
    """Customer bottom left and provider bottom right of the last page; one field per letter on its own page."""
    last = page_count - 1
    specs = [FieldSpec(customer, last, (60, 80, 280, 190)), FieldSpec(provider, last, (315, 80, 535, 190))]
    for i, page in enumerate(letter_pages, 1):
        specs.append(FieldSpec(f"{letter_prefix}-{i}", page, (315, 80, 535, 190)))
    return specs


def validation_context(pki: DeploymentPKI, moment: datetime | None = None) -> ValidationContext:
    """Trust our root only; revocation from our own CRLs, never fetched from the network."""
    return ValidationContext(trust_roots=[to_asn1_cert(pki.root.cert)],
                             other_certs=[to_asn1_cert(c) for c in pki.chain], crls=pki.asn1_crls(),
                             allow_fetching=False, revocation_mode="soft-fail", moment=moment,
                             retroactive_revinfo=moment is not None)


def simple_signer(identity_cert, key, pki: DeploymentPKI) -> signers.SimpleSigner:
    registry = SimpleCertificateStore.from_certs([to_asn1_cert(c) for c in pki.chain])
    return signers.SimpleSigner(signing_cert=to_asn1_cert(identity_cert), signing_key=to_asn1_key(key),
                                cert_registry=registry)


def _writer(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)


def _page_count(writer) -> int:
    return int(writer.root["/Pages"]["/Count"])


def certify(pdf_bytes: bytes, fields_: list[FieldSpec], pki: DeploymentPKI, certifier: Identity | None = None,
            timestamper=None, permissions: MDPPerm = MDPPerm.FILL_FORMS, reason: str = "") -> bytes:
    """The certified revision: every field created, then the platform's invisible DocMDP FILL_FORMS signature."""
    certifier = certifier or pki.platform
    writer = _writer(pdf_bytes)
    pages = _page_count(writer)
    for spec in fields_:
        page = spec.page if spec.page >= 0 else pages + spec.page
        fields.append_signature_field(writer, SigFieldSpec(sig_field_name=spec.name, on_page=page, box=spec.box))
    meta = signers.PdfSignatureMetadata(
        field_name=CERTIFICATION_FIELD, certify=True, docmdp_permissions=permissions,
        subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=reason or "签约平台认证 Certified by the signing platform",
        embed_validation_info=True, validation_context=validation_context(pki), dss_settings=SIG_DSS)
    signer = signers.PdfSigner(meta, simple_signer(certifier.cert, certifier.key, pki), timestamper=timestamper,
                               new_field_spec=SigFieldSpec(sig_field_name=CERTIFICATION_FIELD))
    out = io.BytesIO()
    signer.sign_pdf(writer, output=out)
    return out.getvalue()


def _stamp_style(stamp_png: bytes) -> StaticStampStyle:
    image = Image.open(io.BytesIO(stamp_png))
    image.load()
    layout = SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MID,
                                 margins=Margins.uniform(0), inner_content_scaling=InnerScaling.SHRINK_TO_FIT)
    return StaticStampStyle(background=PdfImage(image), background_layout=layout, border_width=0,
                            background_opacity=1.0)


def sign(pdf_bytes: bytes, field_name: str, key, cert, pki: DeploymentPKI, stamp_png: bytes | None,
         signer_name: str, reason: str = "", timestamper=None, location: str = "") -> bytes:
    """An incremental approval signature into an existing field; visible when ``stamp_png`` is given.

    The stamp image should already carry what the place shows (``seals.place_stamp_png``). With a timestamper the
    signature gets a signature timestamp (PAdES B-T), and validation data go into the DSS (B-LT).
    """
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256", reason=reason or None,
        name=signer_name, location=location or None, embed_validation_info=True,
        validation_context=validation_context(pki), dss_settings=SIG_DSS)
    style = _stamp_style(stamp_png) if stamp_png else None
    signer = signers.PdfSigner(meta, simple_signer(cert, key, pki), timestamper=timestamper, stamp_style=style)
    out = io.BytesIO()
    signer.sign_pdf(_writer(pdf_bytes), existing_fields_only=True, output=out)
    return out.getvalue()


def timestamp(pdf_bytes: bytes, timestamper, pki: DeploymentPKI, field_name: str | None = None) -> bytes:
    """A document timestamp over the whole file, with the TSA's validation data in the DSS (B-LTA)."""
    out = io.BytesIO()
    PdfTimeStamper(timestamper, field_name=field_name).timestamp_pdf(
        _writer(pdf_bytes), "sha256", validation_context=validation_context(pki), output=out, dss_settings=TS_DSS)
    return out.getvalue()


def signature_fields(pdf_bytes: bytes) -> list[tuple[str, bool]]:
    """(field name, filled) for every signature field."""
    reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
    return [(name, value is not None) for name, value, _ in fields.enumerate_sig_fields(reader)]


def now() -> datetime:
    return datetime.now(timezone.utc)
