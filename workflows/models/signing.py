"""Signing: one-time intent codes, every PDF of a contract's signing chain, and the deployment's PKI."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, LargeBinary, Text
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
    """The SHA-256 of every PDF the platform produced while signing (certified, each signature, package)."""

    __tablename__ = "signed_document"

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(index=True)
    kind: str = Field(max_length=40)  # certified | signed:<field> | timestamped | package
    sha256: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # the bytes of the signing chain (certified, signed:<field>, timestamped, package): the newest row of a contract
    # that is not the package is THE current signed PDF of the contract (workflows.signing.flow)
    pdf: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


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
