"""Amendments (补充协议) of active contracts, and the administrator's working-day overrides their deadlines count on."""
from datetime import date, datetime
from typing import Optional

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class ContractAmendment(SQLModel, table=True):
    """A change of an active contract's terms proposed by one side and answered by the other (AmendmentService).

    ``changes_json`` is the structured change (figures, items, payment plan, term end, clause texts by number) as
    validated; ``before_json`` the same fields' values in force when it took effect, so its history reads "from … to
    …". ``open_key`` holds the contract's id while the amendment waits for an answer and is NULL otherwise: unique, so
    a contract has one open amendment at a time on both databases (NULLs never collide). ``version`` is compared and
    set by every change of the row."""

    __tablename__ = "contract_amendment"
    __table_args__ = (UniqueConstraint("contract_id", "number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    number: int  # 补充协议 1, 2, ... of the contract
    status: str = Field(default="proposed", max_length=20)  # proposed | signing | effective | refused | lapsed | void
    open_key: Optional[int] = Field(default=None, unique=True)
    party: str = Field(max_length=20)  # who proposed: customer | provider
    proposed_by: str = Field(max_length=100)
    proposed_by_name: str = Field(default="", max_length=200)
    proposed_at: datetime = Field(default_factory=utcnow)
    changes_json: str = Field(sa_column=Column(Text, nullable=False))
    before_json: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    working_days: int
    answer_due_at: datetime
    answer: str = Field(default="", max_length=20)  # agreed | refused | deemed_agreed
    answered_by: str = Field(default="", max_length=100)
    answered_by_name: str = Field(default="", max_length=200)
    answered_at: Optional[datetime] = None
    answer_comment: str = Field(default="", max_length=500)
    effective_at: Optional[datetime] = None
    version: int = Field(default=1)
    document_id: Optional[int] = None  # the current PDF of its 补充协议's signing chain (SignedDocument)
    signed_at: Optional[datetime] = None  # the last signature it needed


class WorkingDayOverride(SQLModel, table=True):
    """An administrator's word on one date: a working day or a day off, whatever the official schedule says (a year
    the ``chinese_calendar`` release does not know yet, or a correction)."""

    __tablename__ = "working_day_override"

    day: date = Field(primary_key=True)
    is_working_day: bool
    note: str = Field(default="", max_length=100)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
