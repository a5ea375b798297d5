"""Activation: effective dates, the renewal notice timer (status stays active while it waits), and the signed
contract.activated webhook, delivered by a job with retries, a dead end and a delivery log, against a local HTTP
receiver."""
import hashlib
import hmac
import json
import threading
from datetime import timedelta

from sqlmodel import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.letters.helpers import activate, network_line, technical_service
from workflows.models import Job, OutboxMail, WebhookDelivery, WebhookEvent
from workflows.clock import utcnow
from workflows.services.webhooks import DELIVER, POLICY

SECRET = "webhook-test-secret"


class Receiver:
    """Checks the HMAC signature; answers 500 to the first ``failures`` deliveries, 200 afterwards."""

    def __init__(self, failures=1):
        self.received, self.calls, self.failures = [], 0, failures
        self.server = make_server("127.0.0.1", 0, self.app)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    @Request.application
    def app(self, request):
        self.calls += 1
        body = request.get_data()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Qianyue-Signature", ""), expected):
            return Response("bad signature", status=401)
        if self.calls <= self.failures:
            return Response("try again", status=500)
        self.received.append((request.headers["X-Qianyue-Event"], json.loads(body)))
        return Response("ok")


def network_line_to_come():
    """Seed 000 with its term still to come: its own (2022) ended long ago, and a contract that renews by itself
    activated after its term renews at once (a ``contract.renewed`` event beside ``contract.activated``)."""
    draft = network_line()
    draft["term"].update(start="2030-01-01", end="2030-12-31")
    draft["payment_plan"] = {"installments": [{"due_date": "2030-06-30", "amount": "450000.00"}]}
    return draft


def delivery_job(platform, contract_id):
    with platform.db.read() as session:
        return session.exec(select(Job).where(Job.kind == DELIVER, Job.contract_id == contract_id)).one()


def test_activation_posts_a_signed_event_and_retries_a_failed_delivery(api, platform):
    receiver = Receiver()
    platform.webhooks.url, platform.webhooks.secret = receiver.url, SECRET
    try:
        contract_id = activate(api, network_line_to_come())  # the signing acts run the worker's jobs after each request
        assert receiver.calls == 1 and receiver.received == []  # the job's first try failed
        job = delivery_job(platform, contract_id)
        assert job.status == "queued" and "HTTP 500" in job.last_error
        assert platform.jobs.run_pending("tests", kinds=(DELIVER,)) == 0  # not due yet: the job backs off
        assert platform.jobs.run_pending("tests", at=utcnow() + timedelta(minutes=3), kinds=(DELIVER,)) == 1
        ((kind, body),) = receiver.received
        assert kind == "contract.activated"
        contract = body["contract"]
        assert contract["id"] == contract_id and contract["customer"]["name"] == "常州市城市管理局"
        assert contract["term"]["end"] == "2030-12-31" and contract["totals"]["currency"] == "CNY"
        assert [l["code"] for l in contract["letters"]] == ["network_access", "information_security"]
        assert all(l["status"] == "signed" for l in contract["letters"])
        with platform.db.read() as session:
            event = session.exec(select(WebhookEvent).where(WebhookEvent.contract_id == contract_id)).one()
            log = session.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
                               .order_by(WebhookDelivery.id)).all()
        assert event.delivered_at is not None and delivery_job(platform, contract_id).status == "done"
        assert [(d.attempt, d.status_code) for d in log] == [(1, 500), (2, 200)] and "HTTP 500" in log[0].error
    finally:
        receiver.server.shutdown()


def test_a_receiver_that_keeps_failing_makes_the_delivery_dead_and_a_retry_delivers(api, platform):
    tries = POLICY["max_attempts"]
    receiver = Receiver(failures=tries)
    platform.webhooks.url, platform.webhooks.secret = receiver.url, SECRET
    try:
        contract_id = activate(api, network_line_to_come())
        job = delivery_job(platform, contract_id)
        while job.status == "queued":  # each try when its back-off has passed, not before
            assert platform.jobs.run_pending("tests", at=job.run_at - timedelta(seconds=1), kinds=(DELIVER,)) == 0
            assert platform.jobs.run_pending("tests", at=job.run_at, kinds=(DELIVER,)) == 1
            job = delivery_job(platform, contract_id)
        assert (job.status, job.attempts, receiver.calls) == ("dead", tries, tries)
        assert job.last_error.strip().splitlines()[-1].endswith("HTTP 500: try again")
        with platform.db.read() as session:
            event = session.exec(select(WebhookEvent).where(WebhookEvent.contract_id == contract_id)).one()
            attempts = [d.attempt for d in platform.webhooks.deliveries(session, event.id)]
            assert attempts == list(range(1, tries + 1)) and event.delivered_at is None
        with platform.db.write() as session:
            platform.jobs.retry(session, job.id)
        assert platform.jobs.run_pending("tests", kinds=(DELIVER,)) == 1
        assert receiver.received and delivery_job(platform, contract_id).status == "done"
    finally:
        receiver.server.shutdown()


def test_without_a_url_events_are_recorded_and_sent_once_it_is_set(api, platform):
    contract_id = activate(api, technical_service())
    with platform.db.read() as session:
        (event,) = session.exec(select(WebhookEvent).where(WebhookEvent.contract_id == contract_id)).all()
        assert session.exec(select(Job).where(Job.kind == DELIVER)).all() == []  # no delivery job without a URL
    assert event.delivered_at is None
    receiver = Receiver(failures=0)
    platform.webhooks.url, platform.webhooks.secret = receiver.url, SECRET
    try:
        assert platform.webhooks.enqueue_undelivered() == 1  # `flask webhooks send`
        assert platform.webhooks.enqueue_undelivered() == 0  # its job exists: not a second one
        assert platform.jobs.run_pending("tests", kinds=(DELIVER,)) == 1
        assert [kind for kind, _ in receiver.received] == ["contract.activated"]
    finally:
        receiver.server.shutdown()


def test_the_renewal_notice_fires_before_the_end_and_the_contract_stays_active(api, platform):
    from tests.process.test_lifecycle import small_contract
    draft = small_contract()
    draft["term"] = {"start": "2030-01-01", "end": "2031-12-31", "auto_renew_months": 12, "notice_days": 90}
    draft["payment_plan"] = {"installments": [{"due_date": "2031-06-30", "amount": "100000.00"}]}
    contract_id = activate(api, draft)
    detail = api.call("GET", f"/contracts/{contract_id}", "sales").json
    assert detail["status"] == "active" and (detail["effective_from"], detail["effective_to"]) == ("2030-01-01", "2031-12-31")
    history = api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]
    activated = next(e for e in history if e["event"] == "contract_activated")
    assert activated["details"]["renewal_notice_at"] == "2031-10-02T09:00:00+08:00"  # 09:00 in China, 90 days ahead
    from datetime import datetime, timezone
    assert platform.timers.run_due(at=datetime(2031, 10, 1, tzinfo=timezone.utc)) == 0
    assert platform.timers.run_due(at=datetime(2031, 10, 2, 2, tzinfo=timezone.utc)) == 1
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "active"
    with platform.db.read() as session:
        mails = session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id,
                                                      OutboxMail.kind == "renewal_notice")).all()
    assert sorted(m.to_addr for m in mails) == ["sales@provider.example", "xu.yongli@school.example"]
    assert "2031-12-31" in mails[0].body
