"""History: append-only audit events (who, what, when, which task, decision, comment)."""
import json
from collections import OrderedDict
from threading import Lock

from sqlmodel import col, select

from sqlalchemy import func, or_

from ..db import Pipeline, Statement, insert_statement
from ..models import AuditAnchor, Contract, HistoryEvent, HumanTask
from ..clock import utcnow
from ..fingerprints import sha256_hex
from ..signing.audit import anchor_digest, chain_rows, seal, verify_chain

EVENTS_OF_CONTRACT = Statement(
    f"SELECT {', '.join(c.name for c in HistoryEvent.__table__.c)} FROM history_event WHERE contract_id = :id ORDER BY id",
    columns=HistoryEvent.__table__.c)

ANCHOR = "audit.anchor"
TOKENS_KEPT = 10_000
DECIDING_EVENTS = ("task_completed", "task_sent_back")  # what moves a contract between steps (with 撤回, not a return)

INSERT_EVENT = insert_statement(HistoryEvent.__table__, exclude=("id",))
# the contract's audit chain head: locked on PostgreSQL; SQLite writers are already serialized (BEGIN IMMEDIATE)
SELECT_HEAD = {"postgresql": Statement("SELECT audit_head FROM contract WHERE id = :id FOR UPDATE"),
               "sqlite": Statement("SELECT audit_head FROM contract WHERE id = :id")}
UPDATE_HEAD = Statement("UPDATE contract SET audit_head = :head, audit_seal = :seal WHERE id = :id")
UNSEALED = Statement("SELECT id FROM contract WHERE audit_head <> '' AND audit_seal = '' ORDER BY id")
COLUMNS = ("event", "actor", "task_id", "task_name", "decision", "comment", "on_behalf_of", "details")


class HistoryService:
    def __init__(self, db, jobs, audit_key: bytes, toolkit):
        self.db, self.jobs = db, jobs
        self._audit_key = audit_key  # seals each contract's chain head (workflows.signing.audit); never stored
        self._toolkit = toolkit  # the signing toolkit, opened on first use: its TSA anchors the chains
        self._proven, self._proven_lock = OrderedDict(), Lock()  # (token, digest) -> the time it proves, or None

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
                    pipeline.send(UPDATE_HEAD, {"head": new_head, "seal": seal(self._audit_key, contract_id, new_head),
                                                "id": contract_id})
                return
        INSERT_EVENT.execute_many(session, rows)

    def audit(self, session, contract_id):
        """Recompute the contract's hash chain, check its sealed head and its TSA anchors: whether it is intact, and
        the first broken link if not."""
        return verify_chain(session, contract_id, self._audit_key, self._token_time)

    def _token_time(self, token, digest):
        """What a TSA token proves, validated once per process (about 10 ms each; the contract page shows the audit
        verdict on every view): a token's bytes and the trust roots do not change while the process runs."""
        key = (sha256_hex(token), digest)
        if key in self._proven:
            return self._proven[key]
        proven = self._toolkit().timestamp_time(token, digest)
        with self._proven_lock:
            self._proven[key] = proven
            while len(self._proven) > TOKENS_KEPT:
                self._proven.popitem(last=False)
        return proven

    def request_anchor(self, session, contract_id):
        """In the caller's transaction (a signature, the activation): have the TSA timestamp the chain head soon, as
        a job (a TSA call never holds a transaction open)."""
        self.jobs.enqueue(session, ANCHOR, {"contract_id": contract_id}, contract_id=contract_id,
                          dedupe_key=f"{ANCHOR}:{contract_id}")

    def anchor(self, job):
        """Job: timestamp the contract's chain head as it stands (it includes the events that asked for it)."""
        contract_id = job.payload["contract_id"]
        with self.db.write() as session:  # under the lock writers of history take: the head and its count agree
            head = session.get(Contract, contract_id, with_for_update=True).audit_head
            events = session.exec(select(func.count()).select_from(HistoryEvent)
                                  .where(HistoryEvent.contract_id == contract_id)).one()
        token = self._toolkit().timestamp_digest(anchor_digest(contract_id, head))
        with self.db.write() as session:  # events may have come meanwhile: this head stays in the chain, at its place
            session.add(AuditAnchor(contract_id=contract_id, head=head, events=events, token=token))

    def seal_unsealed(self, session):
        """Seal the heads written before the deployment had an audit key (once, after upgrading), each only after its
        chain verifies: a chain already broken stays unsealed and reported. Returns (sealed, broken) contract ids."""
        sealed, broken = [], []
        for contract_id in [row.id for row in UNSEALED.rows(session)]:
            report = verify_chain(session, contract_id, self._audit_key)
            if report.unsealed:
                UPDATE_HEAD.execute(session, {"head": report.head, "seal": seal(self._audit_key, contract_id, report.head),
                                              "id": contract_id})
                sealed.append(contract_id)
            else:
                broken.append(contract_id)
        return sealed, broken

    def for_contract(self, session, contract_id):
        """The contract's events, oldest first: rows with the table's columns (an event never changes once written;
        the detail, the task page and the certificate each read them all)."""
        session.flush()  # as the ORM's autoflush would
        return EVENTS_OF_CONTRACT.rows(session, {"id": contract_id})

    def returns(self, session, contract_ids):
        """{contract id: the return event} for each contract whose latest decision sent it back to sales (a return, or
        a 回退 asked of a sales task): the reviewer's comment is what the drafter acts on next, so the inbox flags it
        and the task page leads with it."""
        if not contract_ids:
            return {}
        latest = (select(func.max(HistoryEvent.id)).where(col(HistoryEvent.contract_id).in_(list(contract_ids)),
                                                          col(HistoryEvent.event).in_(DECIDING_EVENTS))
                  .group_by(HistoryEvent.contract_id))
        return {event.contract_id: event for event in session.exec(
            select(HistoryEvent).where(col(HistoryEvent.id).in_(latest),
                                       or_(HistoryEvent.decision == "return", HistoryEvent.event == "task_sent_back")))}

    def task_titles(self, session, contract_id):
        """The title of each task the contract's history names (events keep the task's id and BPMN name only)."""
        return dict(session.exec(select(HumanTask.id, HumanTask.title).where(HumanTask.contract_id == contract_id)).all())


def event_as_dict(row):
    return {
        "id": row.id, "event": row.event, "actor": row.actor, "on_behalf_of": row.on_behalf_of,
        "task_id": row.task_id, "task_name": row.task_name, "decision": row.decision,
        "comment": row.comment, "details": json.loads(row.details), "at": row.at.isoformat(),
    }
