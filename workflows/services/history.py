"""History: append-only audit events (who, what, when, which task, decision, comment)."""
import json

from sqlmodel import select

from ..models import HistoryEvent, utcnow


class HistoryService:
    def record(self, session, event, actor, *, contract_id=None, instance_id=None, task_id=None,
               task_name=None, decision=None, comment="", on_behalf_of=None, details=None, at=None):
        row = HistoryEvent(
            contract_id=contract_id, instance_id=instance_id, task_id=task_id, task_name=task_name,
            event=event, actor=actor, on_behalf_of=on_behalf_of, decision=decision, comment=comment or "",
            details=json.dumps(details or {}, ensure_ascii=False, default=str), at=at or utcnow(),
        )
        session.add(row)
        return row

    def for_contract(self, session, contract_id):
        query = select(HistoryEvent).where(HistoryEvent.contract_id == contract_id).order_by(HistoryEvent.id)
        return list(session.exec(query))


def event_as_dict(row):
    return {
        "id": row.id, "event": row.event, "actor": row.actor, "on_behalf_of": row.on_behalf_of,
        "task_id": row.task_id, "task_name": row.task_name, "decision": row.decision,
        "comment": row.comment, "details": json.loads(row.details), "at": row.at.isoformat(),
    }
