"""The audit chain anchored outside the database: the TSA timestamps each contract's chain head after each signature
and at activation, and a chain rewritten before an anchor is caught even by someone holding the audit key."""
import pytest
from sqlalchemy import text

from tests.conftest import AUDIT_KEY
from tests.signing.conftest import rewrite_the_chain
from workflows.models import AuditAnchor
from workflows.signing.audit import seal


@pytest.fixture
def contract_id(returned_contract_id):
    return returned_contract_id


def anchor_now(api, platform, contract_id):
    with platform.db.write() as session:
        platform.history.request_anchor(session, contract_id)
    api.run_jobs()
    with platform.db.read() as session:
        return session.exec(AuditAnchor.__table__.select().where(AuditAnchor.contract_id == contract_id)).all()


def test_an_anchored_chain_verifies_and_more_events_may_follow(api, platform, contract_id):
    (anchor,) = anchor_now(api, platform, contract_id)
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
        assert report.ok and report.anchors == 1 and anchor.head == report.head and anchor.events == report.events
        assert platform.toolkit().timestamp_time(anchor.token, b"\0" * 32) is None  # a token proves its digest only
    api.decide("sales", contract_id, "submit")
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert report.ok and report.events > anchor.events


def test_a_chain_rewritten_before_its_anchor_is_caught_even_with_the_audit_key(api, platform, contract_id):
    """The insider who has the key too: rewrites the comment, recomputes every hash, the head and its seal. The head
    the TSA timestamped is no longer in the chain."""
    anchor_now(api, platform, contract_id)
    returned = next(e for e in platform_events(platform, contract_id) if e.decision == "return")
    with platform.db.write() as session:
        rewrite_the_chain(session, contract_id, returned.id, "同意，无意见")
        head = session.connection().execute(text("SELECT audit_head FROM contract WHERE id = :id"),
                                            {"id": contract_id}).scalar()
        session.connection().execute(text("UPDATE contract SET audit_seal = :s WHERE id = :id"),
                                     {"s": seal(AUDIT_KEY.encode(), contract_id, head), "id": contract_id})
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and "rewritten before its head was timestamped" in report.reason


def test_a_forged_anchor_is_caught(api, platform, contract_id):
    (anchor,) = anchor_now(api, platform, contract_id)
    forged = bytearray(anchor.token)
    forged[-10] ^= 0x01  # the TSA's signature
    with platform.db.write() as session:
        session.get(AuditAnchor, anchor.id).token = bytes(forged)
    with platform.db.read() as session:
        report = platform.history.audit(session, contract_id)
    assert not report.ok and "not a valid timestamp" in report.reason


def platform_events(platform, contract_id):
    with platform.db.read() as session:
        return platform.history.for_contract(session, contract_id)
