"""The outboxes: mail and webhook events written in the transaction of the change they report, delivered after
commit."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class OutboxMail(SQLModel, table=True):
    """Mail written in the same transaction as the change it reports, delivered after commit (and retried)."""

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_pending", "sent_at", "next_attempt_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    to_addr: str = Field(max_length=200)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    contract_id: Optional[int] = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    attempts: int = Field(default=0)
    sent_at: Optional[datetime] = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class WebhookEvent(SQLModel, table=True):
    """An event for downstream systems (``contract.activated``), written in the step's transaction, POSTed after commit."""

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_pending", "delivered_at", "next_attempt_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    contract_id: Optional[int] = Field(default=None, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    attempts: int = Field(default=0)
    delivered_at: Optional[datetime] = None
    last_status: Optional[int] = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class WebhookDelivery(SQLModel, table=True):
    """The delivery log: one row per attempt."""

    __tablename__ = "webhook_delivery"

    id: Optional[int] = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="webhook_event.id", index=True)
    attempt: int
    url: str = Field(max_length=500)
    status_code: Optional[int] = None
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    duration_ms: int = Field(default=0)
    at: datetime = Field(default_factory=utcnow)
