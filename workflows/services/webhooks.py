"""Webhooks: events for downstream systems, an outbox written in the step's transaction.

Events: ``contract.activated``; ``contract.non_renewal_notified`` (a side gave notice of non-renewal: the term ends at
its end), ``contract.renewed`` (an auto-renewal added a term), ``contract.terminated`` (an early termination took
effect), ``contract.expired`` (the term ended without renewal), ``contract.amended`` (a supplementary agreement took
effect: its number, the changes, the values they replaced). Each carries the contract's facts
(``contract_facts``: number, customer, provider, services, the term in force, totals) and says what happened.

Delivery is a POST of the event's JSON body to ``WEBHOOK_URL`` with
``X-Qianyue-Signature: sha256=<hex HMAC-SHA256 of the exact body with WEBHOOK_SECRET>``, ``X-Qianyue-Event`` and
``X-Qianyue-Delivery`` (the event id: receivers de-duplicate on it; an event may arrive more than once).
Each event's delivery is a ``webhook.deliver`` job written with the event, so a rolled-back step never emits one and
nothing is POSTed in the request. Any 2xx answer delivers it; anything else (or no answer in 10 s) is a failed try,
retried on the job's back-off (2, 4, 8 ... minutes, ``POLICY``) and then dead on ``/admin/jobs``. Every try is a row
of ``webhook_delivery`` (status code, error, duration). Without ``WEBHOOK_URL`` events are recorded only (and
``flask webhooks send`` enqueues them once it is set).
"""
import hashlib
import hmac
import json
import time
from datetime import timedelta

import requests
from sqlmodel import select

from ..db import Statement
from ..clock import utcnow
from ..models import WebhookDelivery, WebhookEvent

DELIVER = "webhook.deliver"
POLICY = {"max_attempts": 10, "backoff": timedelta(minutes=2)}  # 2, 4 ... 512 minutes: about 17 hours in all
TIMEOUT = 10
EVENT_TO_SEND = Statement("SELECT id, kind, payload, delivered_at FROM webhook_event WHERE id = :id")
MARK_DELIVERED = Statement("UPDATE webhook_event SET delivered_at = :now WHERE id = :id AND delivered_at IS NULL",
                           now=WebhookEvent.__table__.c.delivered_at)
UNDELIVERED = Statement("SELECT id, contract_id FROM webhook_event WHERE delivered_at IS NULL ORDER BY id")


def contract_facts(contract, data):
    """What every contract event says of the contract: ``data`` is its current version's; the term is the one in
    force (an auto-renewal moves its end; before activation, the version's)."""
    term, figures = data["term"], data["figures"]
    return {
        "id": contract.id, "number": contract.number, "title": contract.title,
        "customer": {"name": data["customer"]["name"], "credit_code": data["customer"].get("credit_code", "")},
        "provider": contract.provider_code, "service_types": data["service_types"],
        "term": {"start": contract.effective_from.isoformat() if contract.effective_from else term["start"],
                 "end": contract.effective_to.isoformat() if contract.effective_to else term["end"],
                 "auto_renew_months": term.get("auto_renew_months", 0), "notice_days": term.get("notice_days", 0)},
        "totals": {"net_amount": figures["net_amount"], "tax_amount": figures["tax_amount"], "total": figures["total"],
                   "currency": "CNY"}}


class DeliveryFailed(RuntimeError):
    """The receiver did not take the event (not 2xx, no answer, no URL on this node): a failed try of the job."""


def signature(secret, body):
    return "sha256=" + hmac.new((secret or "").encode(), body, hashlib.sha256).hexdigest()


class WebhookService:
    def __init__(self, db, jobs, url="", secret=""):
        self.db = db
        self.jobs = jobs
        self.url = url or ""
        self.secret = secret or ""

    def enqueue(self, session, kind, contract_id, payload):
        row = WebhookEvent(kind=kind, contract_id=contract_id,
                           payload=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str))
        session.add(row)
        session.flush()
        if self.url:
            self._enqueue_delivery(session, row.id, contract_id)
        return row.id

    def _enqueue_delivery(self, session, event_id, contract_id):
        self.jobs.enqueue(session, DELIVER, {"event_id": event_id}, contract_id=contract_id,
                          dedupe_key=f"{DELIVER}:{event_id}")

    def events(self, session, contract_id=None, limit=100):
        query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
        if contract_id is not None:
            query = query.where(WebhookEvent.contract_id == contract_id)
        return list(session.exec(query))

    def deliveries(self, session, event_id):
        return list(session.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
                                 .order_by(WebhookDelivery.id)))

    def deliver(self, job):
        """``webhook.deliver``: POST the event once and log the try; raises ``DeliveryFailed`` unless it was taken (an
        event already delivered, by a try whose outcome was lost, is not sent again)."""
        if not self.url:
            raise DeliveryFailed("WEBHOOK_URL is not set on this node")
        with self.db.read() as session:
            event = EVENT_TO_SEND.first(session, {"id": job.payload["event_id"]})
        if event is None or event.delivered_at is not None:
            return
        body, status, error, started = event.payload.encode(), None, "", time.monotonic()
        try:
            response = requests.post(self.url, data=body, timeout=TIMEOUT, allow_redirects=False, headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": "Qianyue-Webhook/1",
                "X-Qianyue-Event": event.kind, "X-Qianyue-Delivery": str(event.id),
                "X-Qianyue-Signature": signature(self.secret, body)})
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}: {response.text[:500]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        elapsed = int((time.monotonic() - started) * 1000)
        with self.db.write() as session:
            session.add(WebhookDelivery(event_id=event.id, attempt=job.attempts, url=self.url[:500], status_code=status,
                                        error=error, duration_ms=elapsed))
            if not error:
                MARK_DELIVERED.execute(session, {"id": event.id, "now": utcnow()})
        if error:
            raise DeliveryFailed(error)

    def enqueue_undelivered(self):
        """Delivery jobs for events that never had one (written while ``WEBHOOK_URL`` was unset, or before delivery
        was a job); returns how many. A dead job is retried on /admin/jobs, not here."""
        with self.db.write() as session:
            keys = self.jobs.dedupe_keys(session, DELIVER)
            missing = [event for event in UNDELIVERED.rows(session) if f"{DELIVER}:{event.id}" not in keys]
            for event in missing:
                self._enqueue_delivery(session, event.id, event.contract_id)
        return len(missing)
