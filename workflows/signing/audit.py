"""The per-contract audit hash chain over history events.

Each event of a contract stores ``prev_hash`` (the contract's chain head before it) and
``hash = sha256(prev_hash + canonical)``, where ``canonical`` is the compact, key-sorted JSON of
(contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at ISO-8601 UTC).
``contract.audit_head`` is the hash of the last event. ``HistoryService.record_many`` appends with one
locked read of the head and one update per call. :func:`verify_chain` recomputes the chain and names the
first broken link: an edited event (its hash no longer matches), a deleted or reordered event (its
``prev_hash`` is not the previous event's hash), or a head that is not the last event's hash (the last
events deleted).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text

from ..models import HistoryEvent


def _iso(at) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical(contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at) -> str:
    """``details`` is the stored JSON text; it is parsed and re-dumped so its key order does not matter."""
    parsed = json.loads(details) if isinstance(details, str) else (details or {})
    return json.dumps({"contract_id": contract_id, "event": event, "actor": actor, "on_behalf_of": on_behalf_of,
                       "task_id": task_id, "task_name": task_name, "decision": decision, "comment": comment or "",
                       "details": parsed, "at": _iso(at)},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def link(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256((prev_hash + canonical_json).encode()).hexdigest()


def chain_rows(rows: list[dict], head: str) -> str:
    """Set ``prev_hash`` and ``hash`` on rows (dicts as inserted) in order; return the new head."""
    for row in rows:
        row["prev_hash"] = head
        head = row["hash"] = link(head, canonical(
            row["contract_id"], row["event"], row["actor"], row["on_behalf_of"], row["task_id"], row["task_name"],
            row["decision"], row["comment"], row["details"], row["at"]))
    return head


@dataclass
class ChainReport:
    ok: bool
    head: str
    events: int
    first_broken_event_id: int | None = None
    reason: str = ""


def verify_chain(session, contract_id: int) -> ChainReport:
    connection = session.connection()
    stored_head = connection.execute(text("SELECT audit_head FROM contract WHERE id = :id"),
                                     {"id": contract_id}).scalar()
    rows = connection.execute(text(
        "SELECT id, contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at, "
        "prev_hash, hash FROM history_event WHERE contract_id = :id ORDER BY id").columns(
            at=HistoryEvent.__table__.c.at.type), {"id": contract_id}).mappings()
    head, count = "", 0
    for row in rows:
        count += 1
        if not row["hash"] and not row["prev_hash"] and head == "":
            continue  # an event from before the chain existed (migrated data): not chained
        if row["prev_hash"] != head:
            return ChainReport(False, stored_head or "", count, row["id"],
                               "an event before this one was deleted, inserted or reordered "
                               "(its prev_hash is not the previous event's hash)")
        at = row["at"]
        expected = link(head, canonical(row["contract_id"], row["event"], row["actor"], row["on_behalf_of"],
                                        row["task_id"], row["task_name"], row["decision"], row["comment"],
                                        row["details"], at))
        if expected != row["hash"]:
            return ChainReport(False, stored_head or "", count, row["id"], "this event was edited (its hash does not match)")
        head = row["hash"]
    if (stored_head or "") != head:
        return ChainReport(False, stored_head or "", count, None,
                           "the chain head on the contract is not the last event's hash (events deleted at the end)")
    return ChainReport(True, head, count)
