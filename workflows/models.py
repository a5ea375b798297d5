"""Tables. Every schema change goes through an Alembic migration in ``migrations/``."""
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional

from sqlalchemy import Column, Index, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow():
    return datetime.now(timezone.utc)


class ProcessDefinition(SQLModel, table=True):
    """One deployed version of a BPMN process (with the DMN tables it calls)."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, index=True)
    version: int
    name: str = Field(default="", max_length=200)
    sha256: str = Field(max_length=64)
    bpmn_xml: str = Field(sa_column=Column(Text, nullable=False))
    dmn_xml: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    deployed_by: str = Field(max_length=100)
    deployed_at: datetime = Field(default_factory=utcnow)


class ProcessInstance(SQLModel, table=True):
    """A running (or finished) process; ``state_json`` is SpiffWorkflow's serialization without the spec.

    ``version`` is the optimistic lock: every step writes with ``WHERE version = <the version it read>``.
    """

    __tablename__ = "process_instance"

    id: Optional[int] = Field(default=None, primary_key=True)
    definition_id: int = Field(foreign_key="process_definition.id", index=True)
    business_key: str = Field(max_length=100, index=True)
    status: str = Field(default="running", max_length=20, index=True)
    serializer_version: str = Field(max_length=20)
    state_json: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1)
    next_timer_at: Optional[datetime] = Field(default=None, index=True)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: Optional[datetime] = None


class HumanTask(SQLModel, table=True):
    """The inbox: one row per user task, kept in step with the workflow in the same transaction."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_inbox", "state", "role", "due_at", "id"),
        Index("ix_human_task_assignee", "state", "assignee"),
    )

    id: str = Field(primary_key=True, max_length=36)  # SpiffWorkflow's task UUID
    instance_id: int = Field(foreign_key="process_instance.id", index=True)
    contract_id: int = Field(index=True)
    name: str = Field(max_length=100)
    title: str = Field(default="", max_length=200)
    role: str = Field(max_length=50)
    state: str = Field(default="open", max_length=20)
    assignee: Optional[str] = Field(default=None, max_length=100)
    delegated_by: Optional[str] = Field(default=None, max_length=100)  # who handed the task to the assignee
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    completed_at: Optional[datetime] = None
    completed_by: Optional[str] = Field(default=None, max_length=100)
    decision: Optional[str] = Field(default=None, max_length=50)


class HistoryEvent(SQLModel, table=True):
    """Append-only audit events; nothing updates or deletes a row."""

    __tablename__ = "history_event"
    __table_args__ = (Index("ix_history_event_contract", "contract_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: Optional[int] = Field(default=None)
    instance_id: Optional[int] = Field(default=None)
    task_id: Optional[str] = Field(default=None, max_length=36)
    task_name: Optional[str] = Field(default=None, max_length=100)
    event: str = Field(max_length=50)
    actor: str = Field(max_length=100)
    on_behalf_of: Optional[str] = Field(default=None, max_length=100)
    decision: Optional[str] = Field(default=None, max_length=50)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    at: datetime = Field(default_factory=utcnow)
    # per-contract hash chain (workflows.signing.audit): hash = sha256(prev_hash + canonical JSON of the event)
    prev_hash: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    hash: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    display_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=200)
    password_hash: str = Field(default="", max_length=200)
    roles: str = Field(default="", max_length=200)  # comma-separated role names
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def role_set(self):
        return frozenset(r for r in self.roles.split(",") if r)


class ApiToken(SQLModel, table=True):
    """Bearer tokens for integrations; only a SHA-256 of the token is kept."""

    __tablename__ = "api_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None


class Provider(SQLModel, table=True):
    """A provider branch (乙方): its legal entity, bank, and contract number pattern."""

    __tablename__ = "provider"

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=50, unique=True)
    is_default: bool = Field(default=False)
    number_pattern: str = Field(default="{province}{city}{kind}{yymm}{seq:03d}{suffix}", max_length=100)
    profile_json: str = Field(sa_column=Column(Text, nullable=False))


class Contract(SQLModel, table=True):
    """A contract; its content lives in immutable ``ContractVersion`` rows."""

    __tablename__ = "contract"
    __table_args__ = (Index("ix_contract_status_created", "status", "created_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    template: str = Field(max_length=50)
    title: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=30)
    provider_code: str = Field(max_length=50)
    customer_name: str = Field(max_length=200, index=True)
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


class ContractVersion(SQLModel, table=True):
    __tablename__ = "contract_version"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    version: int
    data_json: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class NumberSequence(SQLModel, table=True):
    """Last number handed out per contract-number prefix; incremented under the write lock."""

    __tablename__ = "number_sequence"

    prefix: str = Field(primary_key=True, max_length=40)
    last_value: int = Field(default=0)


class WebSession(SQLModel, table=True):
    """A browser session: the cookie carries only the token; logout and expiry revoke it here."""

    __tablename__ = "web_session"

    token_sha256: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: Optional[datetime] = None
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class LoginAttempt(SQLModel, table=True):
    """Password attempts, for rate limiting by account and by address."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_username_at", "username", "at"), Index("ix_login_attempt_ip_at", "ip", "at"))

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100)
    ip: str = Field(max_length=64)
    success: bool
    at: datetime = Field(default_factory=utcnow)


from workflows.signing import models as _signing_models  # noqa: E402,F401  (intent_code, signed_document)


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


from workflows import models_customers as _customer_models  # noqa: E402,F401  (customers, invitations, signatures, embedded IdP)


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


from workflows import models_letters as _letter_models  # noqa: E402,F401  (letter templates, contract letters, webhooks)
