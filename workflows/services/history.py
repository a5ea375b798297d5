"""History: append-only audit events (who, what, when, which task, decision, comment)."""
import json

from sqlmodel import select

from ..db import Pipeline, Statement, insert_statement
from ..models import HistoryEvent
from ..clock import utcnow
from ..signing.audit import chain_rows, verify_chain

INSERT_EVENT = insert_statement(HistoryEvent.__table__, exclude=("id",))
# the contract's audit chain head: locked on PostgreSQL; SQLite writers are already serialized (BEGIN IMMEDIATE)
SELECT_HEAD = {"postgresql": Statement("SELECT audit_head FROM contract WHERE id = :id FOR UPDATE"),
               "sqlite": Statement("SELECT audit_head FROM contract WHERE id = :id")}
UPDATE_HEAD = Statement("UPDATE contract SET audit_head = :head WHERE id = :id")
COLUMNS = ("event", "actor", "task_id", "task_name", "decision", "comment", "on_behalf_of", "details")


class HistoryService:
    def record(self, session, event, actor, *, contract_id=None, instance_id=None, at=None, **fields):
        self.record_many(session, [{"event": event, "actor": actor, **fields}],
                         contract_id=contract_id, instance_id=instance_id, at=at)

    def record_many(self, session, events, *, contract_id=None, instance_id=None, at=None):
        """Append events in one statement; each is a dict of COLUMNS (event and actor required).

        Events of a contract are hash-chained (``workflows.signing.audit``): one read of the chain head and
        one update of it per call, whatever the number of events.
        """
        if not events:
            return
        at = at or utcnow()
        rows = [{"contract_id": contract_id, "instance_id": instance_id, "at": at, "task_id": None, "task_name": None,
                 "decision": None, "on_behalf_of": None, **{k: v for k, v in e.items() if k in COLUMNS},
                 "comment": e.get("comment") or "",
                 "details": json.dumps(e.get("details") or {}, ensure_ascii=False, default=str),
                 "prev_hash": "", "hash": ""} for e in events]
        if contract_id is not None:
            select_head = SELECT_HEAD.get(session.connection().dialect.name, SELECT_HEAD["sqlite"])
            head = select_head.scalar(session, {"id": contract_id})
            if head is not None:  # the contract row exists (always, except in tests of history alone)
                new_head = chain_rows(rows, head)
                with Pipeline(session) as pipeline:
                    INSERT_EVENT.execute_many(session, rows)
                    pipeline.send(UPDATE_HEAD, {"head": new_head, "id": contract_id})
                return
        INSERT_EVENT.execute_many(session, rows)

    def audit(self, session, contract_id):
        """Recompute the contract's hash chain: whether it is intact, and the first broken link if not."""
        return verify_chain(session, contract_id)

    def for_contract(self, session, contract_id):
        query = select(HistoryEvent).where(HistoryEvent.contract_id == contract_id).order_by(HistoryEvent.id)
        return list(session.exec(query))


def event_as_dict(row):
    return {
        "id": row.id, "event": row.event, "actor": row.actor, "on_behalf_of": row.on_behalf_of,
        "task_id": row.task_id, "task_name": row.task_name, "decision": row.decision,
        "comment": row.comment, "details": json.loads(row.details), "at": row.at.isoformat(),
    }
