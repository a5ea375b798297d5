"""The per-contract audit hash chain over history events.

Each event of a contract stores ``prev_hash`` (the contract's chain head before it) and
``hash = sha256(prev_hash + canonical)``, where ``canonical`` is the compact, key-sorted JSON of
(contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at ISO-8601 UTC).
``contract.audit_head`` is the hash of the last event. ``HistoryService.record_many`` appends with one
locked read of the head and one update per call. :func:`verify_chain` recomputes the chain and names the
first broken link: an edited event (its hash no longer matches), a deleted or reordered event (its
``prev_hash`` is not the previous event's hash), or a head that is not the last event's hash (the last
events deleted).

A chain alone is only as strong as the rows it sits in: whoever can write the database can edit an event and
recompute every hash after it. So the head is also sealed, ``contract.audit_seal = HMAC-SHA256(audit key,
"<contract id>:<head>")``, with a key that is never in the database (``AUDIT_KEY``, or the instance folder's
``audit_key``): a rewritten chain has a head whose seal nobody without the key can make.

And the chain is anchored outside the database's reach: after each signature and at activation, a job has the TSA
timestamp its head (``audit_anchor``: an RFC 3161 token over :func:`anchor_digest`). Each anchored head must still
be in the chain, at its place: rewriting an event before an anchor, even with the key, moves the head out.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text
from sqlmodel import select

from ..clock import china_time
from ..models import AuditAnchor, HistoryEvent


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


def seal(key: bytes, contract_id: int, head: str) -> str:
    """The keyed seal of a contract's chain head ("" for an empty chain: nothing to seal)."""
    if not head:
        return ""
    return hmac.new(key, f"{contract_id}:{head}".encode(), hashlib.sha256).hexdigest()


def anchor_digest(contract_id: int, head: str) -> bytes:
    """What the TSA timestamps for a contract's chain head."""
    return hashlib.sha256(f"qianyue-audit:{contract_id}:{head}".encode()).digest()


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
    unsealed: bool = False  # intact, but its head was never sealed (written before the deployment had an audit key)
    anchors: int = 0  # TSA timestamps of the head that the chain still passes through


def verify_chain(session, contract_id: int, key: bytes, token_time=None) -> ChainReport:
    """``token_time(token, digest)`` -> the time a TSA token proves, or None: checks the anchors (without it, only
    their place in the chain is checked)."""
    connection = session.connection()
    stored_head, stored_seal = connection.execute(text("SELECT audit_head, audit_seal FROM contract WHERE id = :id"),
                                                  {"id": contract_id}).one()
    rows = connection.execute(text(
        "SELECT id, contract_id, event, actor, on_behalf_of, task_id, task_name, decision, comment, details, at, "
        "prev_hash, hash FROM history_event WHERE contract_id = :id ORDER BY id").columns(
            at=HistoryEvent.__table__.c.at.type), {"id": contract_id}).mappings()
    head, count, heads = "", 0, [""]  # heads[n]: the head after n events
    for row in rows:
        count += 1
        if not row["hash"] and not row["prev_hash"] and head == "":
            heads.append(head)
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
        heads.append(head)
    if (stored_head or "") != head:
        return ChainReport(False, stored_head or "", count, None,
                           "the chain head on the contract is not the last event's hash (events deleted at the end)")
    anchors = session.exec(select(AuditAnchor).where(AuditAnchor.contract_id == contract_id)
                           .order_by(AuditAnchor.id)).all()
    for anchor in anchors:
        when = china_time(anchor.at).strftime("%Y-%m-%d %H:%M")
        if anchor.events >= len(heads) or heads[anchor.events] != anchor.head:
            return ChainReport(False, head, count, None,
                               f"the chain was rewritten before its head was timestamped on {when} (China time): "
                               "that head is no longer in it")
        if token_time is not None and token_time(anchor.token, anchor_digest(contract_id, anchor.head)) is None:
            return ChainReport(False, head, count, None,
                               f"the timestamp of the chain head of {when} (China time) is not a valid timestamp of "
                               "a trusted time-stamping authority")
    if head and not stored_seal:
        return ChainReport(False, head, count, None,
                           "the chain head carries no seal: it was written before the audit key existed (run "
                           "`flask audit seal` once after upgrading) or its seal was removed", unsealed=True)
    if not hmac.compare_digest(stored_seal or "", seal(key, contract_id, head)):
        return ChainReport(False, head, count, None,
                           "the chain head's seal does not match: the events were rewritten without the audit key "
                           "(or the deployment's AUDIT_KEY changed)")
    return ChainReport(True, head, count, anchors=len(anchors))
