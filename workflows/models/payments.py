"""Payment plan tracking: an active contract's instalments and the payments finance recorded against them."""
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Column, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class Instalment(SQLModel, table=True):
    """One due payment of an active contract's plan, written when the contract becomes active.

    ``paid`` is the sum of its payments, kept on the row so that recording one is a single conditional update:
    ``version`` goes up with each payment, and a writer that read an older version gets a conflict instead of
    overwriting (or overpaying) what another recorded meanwhile. ``reminded_at`` and ``overdue_at`` are set once, by
    the daily scan, when the reminder mail and the ``payment.overdue`` event were written. ``cancelled_at`` is set when
    an early termination takes effect before the instalment falls due: what it still owed is no longer owed (what was
    paid on it stays recorded)."""

    __tablename__ = "payment_instalment"
    __table_args__ = (UniqueConstraint("contract_id", "seq"), Index("ix_payment_instalment_due", "due_date"),
                      # the dashboard's overdue instalments: only those not fully paid
                      Index("ix_payment_instalment_unpaid_due", "due_date", "contract_id",
                            postgresql_where=text("paid < amount"), sqlite_where=text("paid < amount")))

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id")
    seq: int  # 1, 2 ... in the order of the plan
    due_date: date
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    paid: Decimal = Field(default=Decimal("0.00"), sa_column=Column(Numeric(14, 2), nullable=False))
    version: int = Field(default=1)
    reminded_at: Optional[datetime] = None
    overdue_at: Optional[datetime] = None
    cancelled_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)


class PaymentReceived(SQLModel, table=True):
    """Money received for an instalment, as finance recorded it (by hand or from a bank statement line). One bank
    transfer may pay several instalments: a row each, with the same ``bank_reference``."""

    __tablename__ = "payment_received"
    __table_args__ = (UniqueConstraint("instalment_id", "bank_reference"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    instalment_id: int = Field(foreign_key="payment_instalment.id", index=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    received_on: date
    bank_reference: str = Field(max_length=100)
    source: str = Field(default="manual", max_length=20)  # manual | import
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow)
