"""Signing: one-time intent codes, every PDF of a contract's signing chain, and the deployment's PKI."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class IntentCode(SQLModel, table=True):
    """A one-time code proving intent at the moment of signing; only a salted SHA-256 of the code is kept."""

    __tablename__ = "intent_code"
    __table_args__ = (Index("ix_intent_code_signer_issued", "signer_key", "issued_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(index=True)
    signer_key: str = Field(max_length=200)  # OIDC issuer+subject, or staff:<username>
    channel: str = Field(max_length=20)  # email | sms
    destination: str = Field(max_length=200)  # masked
    salt: str = Field(max_length=32)
    code_sha256: str = Field(max_length=64)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    attempts: int = Field(default=0)
    used_at: Optional[datetime] = None


class SignedDocument(SQLModel, table=True):
    """Every PDF of a contract's signing chain, with its bytes: certified, each signing act, timestamped, package.

    ``contract.document_id`` names the current one (what the next signer signs into); it moves only by a
    compare-and-set from the row a new one was made from (``parent_id``), so two signers racing on one PDF can never
    both win and no signature is lost. The package is never the current document.
    """

    __tablename__ = "signed_document"

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(index=True)
    kind: str = Field(max_length=40)  # certified | signed:customer | signed:provider | timestamped | package
    sha256: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    pdf: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    parent_id: Optional[int] = Field(default=None)  # the document this one was made from (None: certified)
    approved_sha256: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})  # what reviewers approved
    source_sha256: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})  # the HTML it renders
    places_json: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # where each field sits
    verified: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})  # these bytes verified when stored
    amendment_id: Optional[int] = Field(default=None, foreign_key="contract_amendment.id", index=True)  # its 补充协议


class DocumentPage(SQLModel, table=True):
    """One page of a contract's document as a PNG image, to read it on a phone (``workflows.documents.pages``).

    Drawn by the job that prepares the document (``SigningService.prepare``), never in a request, and kept in the
    database so that any node serves it. Keyed by the SHA-256 of the HTML it renders from (``source_sha256``, as on
    ``signed_document``): the pages of the certified PDF once it is prepared, before that of a reading copy with the
    letters' blanks. Only the contract's latest rendering keeps its pages; they are a view, never evidence.
    """

    __tablename__ = "document_page"
    __table_args__ = (UniqueConstraint("contract_id", "source_sha256", "number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id")
    source_sha256: str = Field(max_length=64)
    number: int  # from 1
    width: int  # pixels
    height: int
    png: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SigningIdentity(SQLModel, table=True):
    """One certificate and its key, shared by every process and node of the deployment (``workflows.signing.pki``).

    Named ``root``, ``issuing``, ``tsa``, ``platform`` or ``seal-<SHA-256 of the credit code, 16 digits>``; the name is
    the key, so two processes creating the same identity at once cannot both succeed. A renewal replaces the row only
    ``WHERE fingerprint`` is still the one its writer read. The key is PEM, encrypted with ``SIGNING_KEY_PASSPHRASE``.
    """

    __tablename__ = "signing_identity"

    name: str = Field(primary_key=True, max_length=80)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the certificate (DER)
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    private_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    stored_at: datetime = Field(default_factory=utcnow)


class AuditAnchor(SQLModel, table=True):
    """A contract's audit chain head after ``events`` events, timestamped by the TSA (an RFC 3161 token over
    ``audit.anchor_digest``) after each signature and at activation: the chain before it cannot be rewritten without
    the head leaving the chain, whatever the key holder or database writer does later."""

    __tablename__ = "audit_anchor"
    __table_args__ = (Index("ix_audit_anchor_contract", "contract_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id")
    head: str = Field(max_length=64)
    events: int
    token: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    at: datetime = Field(default_factory=utcnow)
