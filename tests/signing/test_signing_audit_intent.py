"""The per-contract audit hash chain, and one-time intent codes."""
import hmac
import re
import threading
from datetime import timedelta
from types import SimpleNamespace

from unittest.mock import ANY

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import load_fixture
from tests.signing.conftest import rewrite_the_chain
from tests.process.test_lifecycle import create, submit
from workflows.errors import Conflict, ValidationFailed
from workflows.models import HistoryEvent
from workflows.clock import utcnow
from workflows.signing import intent
from workflows.signing.intent import MAX_ATTEMPTS, MAX_CODES_PER_HOUR, IntentCode, IntentService


@pytest.fixture
def contract_id(returned_contract_id):
    return returned_contract_id


def _events(platform, contract_id):
    with platform.db.read() as session:
        return platform.history.for_contract(session, contract_id)


def test_events_are_chained_and_the_head_is_on_the_contract(platform, contract_id):
    events = _events(platform, contract_id)
    assert len(events) >= 3
    assert events[0].prev_hash == "" and all(e.hash for e in events)
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:]))
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
        head = session.connection().execute(text("SELECT audit_head FROM contract WHERE id = :id"),
                                            {"id": contract_id}).scalar()
    assert report.ok and report.head == head == events[-1].hash and report.events == len(events)


def test_editing_one_event_is_detected(platform, contract_id):
    target = _events(platform, contract_id)[1]
    with platform.db.write() as session:
        session.connection().execute(text("UPDATE history_event SET comment = 'edited' WHERE id = :id"),
                                     {"id": target.id})
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and report.first_broken_event_id == target.id and "edited" in report.reason


def test_deleting_one_event_is_detected(platform, contract_id):
    events = _events(platform, contract_id)
    with platform.db.write() as session:
        session.connection().execute(text("DELETE FROM history_event WHERE id = :id"), {"id": events[1].id})
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and report.first_broken_event_id == events[2].id and "deleted" in report.reason


def test_deleting_the_last_event_is_detected(platform, contract_id):
    events = _events(platform, contract_id)
    with platform.db.write() as session:
        session.connection().execute(text("DELETE FROM history_event WHERE id = :id"), {"id": events[-1].id})
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and "head" in report.reason


def test_a_chain_rewritten_by_whoever_can_write_the_database_is_detected(platform, contract_id, api):
    """The probe's attack: rewrite the legal reviewer's comment, recompute every hash and the head. Without the audit
    key (never in the database) the head's seal cannot follow."""
    returned = next(e for e in _events(platform, contract_id) if e.decision == "return")
    with platform.db.write() as session:
        rewrite_the_chain(session, contract_id, returned.id, "同意，无意见")
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and "seal does not match" in report.reason
    answer = api.call("GET", f"/contracts/{contract_id}/audit", "legal").json
    assert answer["ok"] is False and "seal" in answer["reason"]


def test_heads_from_before_the_audit_key_are_sealed_once_after_upgrading(platform, contract_id, app, api):
    broken = create(api, load_fixture("contract-technical-service.json"))["id"]
    with platform.db.write() as session:
        session.connection().execute(text("UPDATE contract SET audit_seal = ''"))  # as the upgrade leaves them
        session.connection().execute(text("UPDATE history_event SET comment = 'x' WHERE id = :id"),
                                     {"id": _events(platform, broken)[0].id})
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and report.unsealed and "flask audit seal" in report.reason
    result = app.test_cli_runner().invoke(args=["audit", "seal"])
    assert result.exit_code == 1 and f"contract {broken}: its chain does not verify" in result.output
    with platform.db.read() as session:
        assert platform.history.audit(session, contract_id).ok
        assert not platform.history.audit(session, broken).ok


def test_events_without_a_contract_are_not_chained(platform):
    with platform.db.write() as session:
        platform.history.record(session, "login", "admin")
    with platform.db.read() as session:
        row = session.exec(__import__("sqlmodel").select(HistoryEvent).order_by(HistoryEvent.id.desc())).first()
    assert row.contract_id is None and row.hash == "" and row.prev_hash == ""


class Mailbox:
    def __init__(self):
        self.sent = []

    def __call__(self, to, subject, body):
        self.sent.append((to, subject, body))

    @property
    def last_code(self):
        return re.search(r"(?<!\d)(\d{6})(?!\d)", self.sent[-1][2]).group(1)


SIGNER = "https://id.example.com|u-123"


def test_intent_code_is_single_use_and_gives_evidence(platform, contract_id):
    intents, mail = IntentService(), Mailbox()
    with platform.db.write() as session:
        row = intents.issue(session, contract_id, SIGNER, "email", mail, "zhang.san@example.com")
        assert row.code_sha256 != mail.last_code and mail.last_code not in row.code_sha256
    evidence = intents.check(platform.db, contract_id, SIGNER, mail.last_code)
    assert evidence["channel"] == "email" and evidence["destination"] == "z***n@example.com"
    assert evidence["verified_at"] >= evidence["issued_at"]
    assert intents.check(platform.db, contract_id, SIGNER, mail.last_code) == {**evidence, "verified_at": ANY}
    with platform.db.write() as session:  # the signing act spends it in its own transaction
        intents.consume(session, evidence)
    with pytest.raises(ValidationFailed):
        intents.check(platform.db, contract_id, SIGNER, mail.last_code)
    with pytest.raises(Conflict):
        with platform.db.write() as session:
            intents.consume(session, evidence)


def test_intent_code_expires(platform, contract_id):
    intents, mail = IntentService(), Mailbox()
    with platform.db.write() as session:
        row = intents.issue(session, contract_id, SIGNER, "email", mail, "z@example.com")
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with pytest.raises(ValidationFailed, match="expired"):
        intents.check(platform.db, contract_id, SIGNER, mail.last_code)


def test_a_code_is_pending_from_its_sending_until_it_is_used_expired_or_blocked(platform, contract_id):
    """What the signing page asks: is there a code to type (and where did it go)? Not before one is sent."""
    intents, mail = IntentService(), Mailbox()

    def pending():
        with platform.db.read() as session:
            row = intents.pending(session, contract_id, SIGNER)
            return row.destination if row else None

    assert pending() is None
    with platform.db.write() as session:
        intents.issue(session, contract_id, SIGNER, "email", mail, "zhang.san@example.com")
    assert pending() == "z***n@example.com"
    evidence = intents.check(platform.db, contract_id, SIGNER, mail.last_code)
    with platform.db.write() as session:
        intents.consume(session, evidence)
    assert pending() is None  # used
    with platform.db.write() as session:
        row = intents.issue(session, contract_id, SIGNER, "email", mail, "zhang.san@example.com")
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert pending() is None  # expired
    with platform.db.write() as session:
        row = intents.issue(session, contract_id, SIGNER, "email", mail, "zhang.san@example.com")
        row.attempts = 5
    assert pending() is None  # blocked by wrong guesses


def test_wrong_attempts_are_counted_and_limited(platform, contract_id):
    intents = IntentService()
    with platform.db.write() as session:
        intents.issue(session, contract_id, SIGNER, "sms", None, "13800138000")
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", intents.sms.sent[-1][1]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(ValidationFailed, match="wrong"):
            intents.check(platform.db, contract_id, SIGNER, wrong)
    with pytest.raises(Conflict, match="too many wrong attempts"):
        intents.check(platform.db, contract_id, SIGNER, code)  # even the right code: the code is burnt
    with platform.db.read() as session:
        row = session.exec(__import__("sqlmodel").select(IntentCode)).first()
        assert row.attempts == 5 and row.destination == "138****8000"


def test_parallel_wrong_codes_are_compared_at_most_five_times(platform, contract_id, monkeypatch):
    """40 wrong codes for one code at once (a race on PostgreSQL): 5 are compared and answered "wrong", the other 35
    are refused uncompared with 409, and then even the right code is refused."""
    compared = []
    monkeypatch.setattr(intent, "hmac", SimpleNamespace(
        compare_digest=lambda a, b: compared.append(1) or hmac.compare_digest(a, b)))
    intents, mail = IntentService(), Mailbox()
    with platform.db.write() as session:
        intents.issue(session, contract_id, SIGNER, "email", mail, "z@example.com")
    wrong = [f"{n:06d}" for n in range(41) if f"{n:06d}" != mail.last_code][:40]
    start, outcomes = threading.Barrier(40), []

    def guess(code):
        start.wait()
        try:
            intents.check(platform.db, contract_id, SIGNER, code)
            outcomes.append("accepted")
        except (ValidationFailed, Conflict) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess, args=(code,)) for code in wrong]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["conflict"] * 35 + ["validation_failed"] * MAX_ATTEMPTS
    assert len(compared) == MAX_ATTEMPTS
    with pytest.raises(Conflict, match="too many wrong attempts"):
        intents.check(platform.db, contract_id, SIGNER, mail.last_code)
    with platform.db.read() as session:
        assert session.exec(select(IntentCode)).one().attempts == MAX_ATTEMPTS


def test_parallel_code_requests_send_at_most_the_hourly_limit(platform, contract_id):
    intents, mail = IntentService(), Mailbox()
    start, refused = threading.Barrier(12), []

    def request_code():
        start.wait()
        try:
            with platform.db.write() as session:
                intents.issue(session, contract_id, SIGNER, "email", mail, "z@example.com")
        except Conflict:
            refused.append(1)

    threads = [threading.Thread(target=request_code) for _ in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(mail.sent) == MAX_CODES_PER_HOUR and len(refused) == 12 - MAX_CODES_PER_HOUR


def test_codes_per_signer_are_rate_limited(platform, contract_id):
    intents, mail = IntentService(), Mailbox()
    for _ in range(5):
        with platform.db.write() as session:
            intents.issue(session, contract_id, SIGNER, "email", mail, "z@example.com")
    with pytest.raises(Conflict, match="too many"):
        with platform.db.write() as session:
            intents.issue(session, contract_id, SIGNER, "email", mail, "z@example.com")
    with platform.db.write() as session:  # another signer is not affected
        intents.issue(session, contract_id, "staff:signatory", "email", mail, "s@example.com")
