"""Commitment letters (承诺书): template versions and the letters attached to a contract."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class LetterTemplate(SQLModel, table=True):
    """A version of a letter template: its clauses (sandboxed Jinja) and the fields the customer fills in.

    ``fields_json`` is a list of {name, label, type (text|phone|email), required, applies_when}; ``sha256`` covers
    title, source and fields, so a contract that attached a version can prove which text it attached.
    """

    __tablename__ = "letter_template"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=50)
    version: int
    title: str = Field(max_length=200)
    source: str = Field(sa_column=Column(Text, nullable=False))
    fields_json: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    note: str = Field(default="", max_length=300)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class ContractLetter(SQLModel, table=True):
    """A letter attached to a contract (附件): the exact template version and the values the customer filled in.

    The letter has no PDF of its own: it is rendered as pages of the contract's one signable document, and the
    customer's signing act signs its field there (``signature_id``).
    """

    __tablename__ = "contract_letter"
    __table_args__ = (UniqueConstraint("contract_id", "code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    code: str = Field(max_length=50)
    title: str = Field(max_length=200)
    position: int  # attachment order (附件一, 附件二, ...)
    template_id: int = Field(foreign_key="letter_template.id")
    template_version: int
    template_sha256: str = Field(max_length=64)
    status: str = Field(default="attached", max_length=20)  # attached | filled | signed
    values_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    signature_id: Optional[int] = Field(default=None, foreign_key="signature.id")
    attached_at: datetime = Field(default_factory=utcnow)
    filled_at: Optional[datetime] = None
    filled_by: str = Field(default="", max_length=300)
    signed_at: Optional[datetime] = None
