"""Tables, one module per area. Every schema change goes through an Alembic migration in ``migrations/``.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic's ``env.py`` relies on it).
"""
from sqlmodel import SQLModel

SQLModel.metadata.naming_convention = {  # set before any table is declared: constraint names are part of migrations
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from .absences import Absence  # noqa: E402
from .accounts import ApiToken, LoginAttempt, User, WebSession  # noqa: E402
from .amendments import ContractAmendment, WorkingDayOverride  # noqa: E402
from .contracts import Contract, ContractTemplate, ContractVersion, NumberSequence, Provider  # noqa: E402
from .customers import (ContactChange, CustomerIdentity, CustomerSession, IdpAuthorizationCode, IdpToken, IdpUser,  # noqa: E402
                        Invitation, Signature)
from .engine import HistoryEvent, HumanTask, ProcessDefinition, ProcessInstance, TaskAddition  # noqa: E402
from .jobs import Job, RecurringExecution  # noqa: E402
from .letters import ContractLetter, LetterTemplate  # noqa: E402
from .org import Department  # noqa: E402
from .outbox import OutboxMail, WebhookDelivery, WebhookEvent  # noqa: E402
from .payments import Instalment, PaymentReceived  # noqa: E402
from .register import Clause, ContractClause, SavedFilter  # noqa: E402
from .signing import AuditAnchor, DocumentPage, IntentCode, SignedDocument, SigningIdentity  # noqa: E402

__all__ = ["Absence", "ApiToken", "AuditAnchor", "Clause", "ContactChange", "Contract", "ContractAmendment", "ContractClause", "ContractLetter", "ContractTemplate", "ContractVersion", "CustomerIdentity", "Department",
           "CustomerSession", "DocumentPage", "HistoryEvent", "HumanTask", "IdpAuthorizationCode", "IdpToken", "IdpUser", "Instalment",
           "IntentCode", "Invitation", "Job", "LetterTemplate", "LoginAttempt", "NumberSequence", "OutboxMail", "PaymentReceived", "ProcessDefinition",
           "ProcessInstance", "Provider", "RecurringExecution", "SavedFilter", "Signature", "SignedDocument", "SigningIdentity", "TaskAddition", "User",
           "WebSession", "WebhookDelivery", "WebhookEvent", "WorkingDayOverride"]
