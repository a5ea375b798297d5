"""Customers (甲方) who sign in through OpenID Connect, their sessions, invitations, signatures; the embedded
identity provider's tables. No Flask here."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class CustomerIdentity(SQLModel, table=True):
    """One external identity (OIDC issuer + subject, or a WeCom/DingTalk adapter's made-up issuer)."""

    __tablename__ = "customer_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=300)
    subject: str = Field(max_length=255)
    provider: str = Field(default="", max_length=50)  # the configured provider name it signed in through
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=200, index=True)
    email_verified: bool = Field(default=False)
    # the customer organisation (统一社会信用代码) this identity acts for on every contract of it, as an administrator
    # bound it (an integration's API account); None: only the contracts it accepted an invitation for
    credit_code: Optional[str] = Field(default=None, max_length=18, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: Optional[datetime] = None


class CustomerSession(SQLModel, table=True):
    """A customer's browser session: the cookie carries only the token; logout and expiry revoke it here."""

    __tablename__ = "customer_session"

    token_sha256: str = Field(primary_key=True, max_length=64)
    identity_id: int = Field(foreign_key="customer_identity.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: Optional[datetime] = None
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class Invitation(SQLModel, table=True):
    """An invitation to sign one contract, sent to the customer contact. Only a SHA-256 of the token is kept.

    Alive while not revoked (sales resent it or changed the contact) and the customer task it was made for is
    open. The first identity that accepts it (verified email = ``email``) or that an admin binds is the signer.
    """

    __tablename__ = "invitation"
    __table_args__ = (Index("ix_invitation_contract", "contract_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id")
    task_id: str = Field(max_length=36)
    email: str = Field(max_length=200)
    token_sha256: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    identity_id: Optional[int] = Field(default=None, foreign_key="customer_identity.id", index=True)
    bound_at: Optional[datetime] = None
    bound_by: Optional[str] = Field(default=None, max_length=100)  # "invitation" or the admin who bound it
    revoked_at: Optional[datetime] = None
    reminders: int = Field(default=0)


class ContactChange(SQLModel, table=True):
    """A request to send the contract to another signer after the signer had accepted: an administrator decides.

    Until approved the accepted signer stays the only one who may sign; the decision is in the history and in the
    completion certificate.
    """

    __tablename__ = "contact_change"
    __table_args__ = (Index("ix_contact_change_contract", "contract_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id")
    from_email: str = Field(max_length=200)
    to_email: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="pending", max_length=20)  # pending | approved | rejected
    decided_by: Optional[str] = Field(default=None, max_length=100)
    decided_at: Optional[datetime] = None
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class Signature(SQLModel, table=True):
    """Evidence of one signature: who, in which role, on which exact bytes, when, from where, how, consent shown.

    One row per signed field of the PDF (``field``): a customer's act writes one for the contract and one per letter.
    """

    __tablename__ = "signature"

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    contract_version: int
    task_id: Optional[str] = Field(default=None, max_length=36)
    role: str = Field(max_length=30)  # customer | provider | letter
    field: str = Field(default="", max_length=60, sa_column_kwargs={"server_default": ""})  # the PDF field it fills
    letter_code: Optional[str] = Field(default=None, max_length=50)  # the letter, for role letter
    identity_id: Optional[int] = Field(default=None, foreign_key="customer_identity.id")
    issuer: str = Field(default="", max_length=300)
    subject: str = Field(default="", max_length=255)
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=200)
    document_sha256: str = Field(max_length=64)
    method: str = Field(max_length=20)  # drawn | typed | seal
    typed_name: str = Field(default="", max_length=200)
    image_png: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    image_sha256: str = Field(default="", max_length=64)
    consent_text: str = Field(sa_column=Column(Text, nullable=False))
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    signed_at: datetime = Field(default_factory=utcnow)
    pades_sha256: str = Field(default="", max_length=64)  # the PDF the act produced, carrying the PAdES signature
    intent_json: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # IntentService evidence
    certificate_serial: str = Field(default="", max_length=64)  # the per-event (or seal) certificate that signed
    amendment_id: Optional[int] = Field(default=None, foreign_key="contract_amendment.id", index=True)  # its 补充协议


# --- embedded identity provider (development and tests) -------------------------------------------------------
class IdpUser(SQLModel, table=True):
    __tablename__ = "idp_user"

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    password_hash: str = Field(max_length=200)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=200)
    email_verified: bool = Field(default=True)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class IdpAuthorizationCode(SQLModel, table=True):
    """Authorization codes; only a SHA-256 of the code is kept. Single use, short-lived, bound to one client."""

    __tablename__ = "idp_authorization_code"

    id: Optional[int] = Field(default=None, primary_key=True)
    code_sha256: str = Field(max_length=64, unique=True)
    client_id: str = Field(max_length=100)
    redirect_uri: str = Field(max_length=500)
    scope: str = Field(default="", max_length=300)
    user_id: int = Field(foreign_key="idp_user.id")
    nonce: Optional[str] = Field(default=None, max_length=300)
    code_challenge: Optional[str] = Field(default=None, max_length=200)
    code_challenge_method: Optional[str] = Field(default=None, max_length=10)
    auth_time: int
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: Optional[datetime] = None


class IdpToken(SQLModel, table=True):
    """Access tokens for the userinfo endpoint; only a SHA-256 is kept."""

    __tablename__ = "idp_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    access_token_sha256: str = Field(max_length=64, unique=True)
    client_id: str = Field(max_length=100)
    user_id: int = Field(foreign_key="idp_user.id")
    scope: str = Field(default="", max_length=300)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
