"""Provider branches, contracts with their immutable versions and numbers, contract template versions."""
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Column, Index, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class Provider(SQLModel, table=True):
    """A provider branch (乙方): its legal entity, bank, and contract number pattern."""

    __tablename__ = "provider"

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=50, unique=True)
    is_default: bool = Field(default=False)
    number_pattern: str = Field(default="{province}{city}{kind}{yymm}{seq:03d}{suffix}", max_length=100)
    profile_json: str = Field(sa_column=Column(Text, nullable=False))

    @property
    def name(self):
        """The branch's legal name, as contracts print it (中国电信集团有限公司新乡分公司)."""
        return json.loads(self.profile_json)["name"]


class Contract(SQLModel, table=True):
    """A contract; its content lives in immutable ``ContractVersion`` rows."""

    __tablename__ = "contract"
    __table_args__ = (Index("ix_contract_status_created", "status", "created_at"),
                      Index("ix_contract_created", "created_at", "id"),  # the register's order; contracts per month
                      Index("ix_contract_status_effective_to", "status", "effective_to"))  # those expiring

    id: Optional[int] = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    template: str = Field(max_length=50)
    title: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=30)
    provider_code: str = Field(max_length=50)
    customer_name: str = Field(max_length=200, index=True)
    customer_credit_code: str = Field(default="", max_length=18, index=True,
                                      sa_column_kwargs={"server_default": ""})  # whose integration may act on it
    total: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    service_types: str = Field(default="", max_length=200)
    current_version: int = Field(default=1)
    template_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    effective_from: Optional[date] = None
    effective_to: Optional[date] = None
    audit_head: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    audit_seal: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))  # HMAC of the head
    approved_sha256: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    document_id: Optional[int] = None  # the current PDF of the signing chain (SignedDocument)
    # life after activation (RenewalService, TerminationService): the contract this one renews, and the renewal
    # started from this one (set compare-and-set: one renewal at a time); a notice of non-renewal stops the
    # auto-renewal at the term's end; a termination takes effect on ``terminates_on`` (China date)
    renewal_of_id: Optional[int] = Field(default=None, foreign_key="contract.id", index=True)
    renewed_by_id: Optional[int] = Field(default=None, foreign_key="contract.id")
    non_renewal_at: Optional[datetime] = None
    non_renewal_party: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    terminates_on: Optional[date] = None
    termination_reason: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


class ContractVersion(SQLModel, table=True):
    __tablename__ = "contract_version"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    version: int
    data_json: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    # the letters this version's services mandate, pinned to the template versions of the moment it was written:
    # [{code, title, template_id, template_version, template_sha256}]; what reviewers approve and the customer signs
    letters_json: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class NumberSequence(SQLModel, table=True):
    """Last number handed out per contract-number prefix; incremented in a short transaction of its own (numbers are
    unique, not gap-free: ``ContractService.take_number``)."""

    __tablename__ = "number_sequence"

    prefix: str = Field(primary_key=True, max_length=40)
    last_value: int = Field(default=0)


class ContractTemplate(SQLModel, table=True):
    """A version of a contract template (Jinja, rendered sandboxed). Contracts keep the version they were drafted on."""

    __tablename__ = "contract_template"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    version: int
    source: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    note: str = Field(default="", max_length=300)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
