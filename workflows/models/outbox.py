"""The outboxes: mail and webhook events written in the transaction of the change they report. Each is the record of
what was said (to whom, when it went out); its delivery is a background job (``mail.send``, ``webhook.deliver``)
enqueued in the same transaction, which holds the tries, the back-off and the last error."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class OutboxMail(SQLModel, table=True):
    """Mail written in the same transaction as the change it reports; ``sent_at`` is set by its delivery job."""

    __tablename__ = "outbox_mail"

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    to_addr: str = Field(max_length=200)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    contract_id: Optional[int] = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None


class WebhookEvent(SQLModel, table=True):
    """An event for downstream systems (``contract.activated``), written in the step's transaction; its delivery job
    POSTs it and sets ``delivered_at``."""

    __tablename__ = "webhook_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    contract_id: Optional[int] = Field(default=None, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: Optional[datetime] = None


class WebhookDelivery(SQLModel, table=True):
    """The delivery log: one row per attempt (``attempt`` is the job's try)."""

    __tablename__ = "webhook_delivery"

    id: Optional[int] = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="webhook_event.id", index=True)
    attempt: int
    url: str = Field(max_length=500)
    status_code: Optional[int] = None
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    duration_ms: int = Field(default=0)
    at: datetime = Field(default_factory=utcnow)
