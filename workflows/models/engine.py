"""Process definitions and instances, the inbox of human tasks, and the history."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ..clock import utcnow


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
        # a role's inbox by due date; candidate last: the tasks named for nobody are read and counted from the index
        # alone, in due-date order (on PostgreSQL an IS NULL before due_at would cost the order)
        Index("ix_human_task_inbox", "state", "role", "due_at", "id", "candidate"),
        Index("ix_human_task_assignee", "state", "assignee"),
        Index("ix_human_task_candidate", "state", "candidate", "due_at", "id"),  # the inbox of one named approver
        Index("ix_human_task_escalated", "state", "escalated_to", "due_at", "id"),  # 升级给我: overdue tasks offered to me
        Index("ix_human_task_state_created", "state", "created_at"),  # the dashboard's longest waiting
        Index("ix_human_task_name_completed", "name", "completed_at", "created_at",  # ... and its cycle times, per step
              postgresql_where=text("completed_at IS NOT NULL"), sqlite_where=text("completed_at IS NOT NULL")),
        Index("ix_human_task_open", "name", "created_at", "due_at", "title",  # ... and where contracts wait now
              postgresql_where=text("state = 'open'"), sqlite_where=text("state = 'open'")),
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
    # a named approver (the approval matrix's user or the drafter's manager): only they act on it, whatever the role
    candidate: Optional[str] = Field(default=None, max_length=100)
    # the multi-instance step (会签/或签) the task is one approver of: its rows share it (SpiffWorkflow's parent id)
    step_id: Optional[str] = Field(default=None, max_length=36, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    completed_at: Optional[datetime] = None
    completed_by: Optional[str] = Field(default=None, max_length=100)
    decision: Optional[str] = Field(default=None, max_length=50)
    # 超时升级: the step's timer found it overdue and offered it to the supervisor of its role, who may decide it too
    escalated_at: Optional[datetime] = None
    escalated_to: Optional[str] = Field(default=None, max_length=100)


class HistoryEvent(SQLModel, table=True):
    """Append-only audit events; nothing updates or deletes a row."""

    __tablename__ = "history_event"
    __table_args__ = (Index("ix_history_event_contract", "contract_id", "id"),
                      Index("ix_history_event_event_at", "event", "at", "contract_id"))  # the dashboard's activations per month

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


class TaskAddition(SQLModel, table=True):
    """加签: a reviewer a step's reviewer added before or after their own decision, and the step it gates.

    The added reviewer's work is a ``human_task`` row of its own (same id as this row) outside the diagram; the step's
    task stays ready in the engine and cannot be decided while ``open_step`` names it (one addition at a time: the
    unique column turns a second concurrent one into a conflict).
    """

    __tablename__ = "task_addition"

    id: str = Field(primary_key=True, max_length=36)  # the added reviewer's human_task row
    step_task_id: str = Field(max_length=36, index=True)  # the step's own task (the engine's), which waits for it
    open_step: Optional[str] = Field(default=None, max_length=36, unique=True, index=True)  # = step_task_id until it is decided
    position: str = Field(max_length=10)  # before | after the step reviewer's own decision
    added_by: str = Field(max_length=100)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
