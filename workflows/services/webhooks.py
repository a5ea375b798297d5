"""Webhooks: events for downstream systems (``contract.activated``), an outbox written in the step's transaction.

Delivery is a POST of the event's JSON body to ``WEBHOOK_URL`` with
``X-Qianyue-Signature: sha256=<hex HMAC-SHA256 of the exact body with WEBHOOK_SECRET>``, ``X-Qianyue-Event`` and
``X-Qianyue-Delivery`` (the event id: receivers de-duplicate on it; an event may arrive more than once).
Any 2xx answer delivers it; anything else (or no answer in 10 s) is retried with back-off (2, 4, 8 ... minutes,
at most ``MAX_ATTEMPTS`` tries). Every attempt is a row of ``webhook_delivery`` (status code, error, duration).
Without ``WEBHOOK_URL`` events wait in the outbox. Delivery runs after commit (like mail) and from
``flask --app wsgi webhooks send`` (cron), so a rolled-back step never emits an event.
"""
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from sqlalchemy import update
from sqlmodel import select

from ..db import after_commit
from ..clock import utcnow
from ..models import WebhookDelivery, WebhookEvent

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
TIMEOUT = 10


def signature(secret, body):
    return "sha256=" + hmac.new((secret or "").encode(), body, hashlib.sha256).hexdigest()


class WebhookService:
    def __init__(self, db, url="", secret=""):
        self.db = db
        self.url = url or ""
        self.secret = secret or ""

    def enqueue(self, session, kind, contract_id, payload):
        row = WebhookEvent(kind=kind, contract_id=contract_id,
                           payload=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str))
        session.add(row)
        session.flush()
        if self.url:
            after_commit(session, self.deliver_soon)
        return row.id

    def events(self, session, contract_id=None, limit=100):
        query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
        if contract_id is not None:
            query = query.where(WebhookEvent.contract_id == contract_id)
        return list(session.exec(query))

    def deliveries(self, session, event_id):
        return list(session.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
                                 .order_by(WebhookDelivery.id)))

    def deliver_soon(self):
        try:
            self.deliver_pending()
        except Exception:  # a receiver outage must never turn a committed activation into an error page
            log.exception("webhook delivery failed; `flask --app wsgi webhooks send` retries")

    def deliver_pending(self, limit=100, at=None):
        """POST what is due (at ``at``, default now); each event is claimed first (a lease). Returns the number delivered."""
        if not self.url:
            return 0
        delivered, db = 0, self.db
        for _ in range(limit):
            now = at or utcnow()
            with db.write() as session:
                event = session.exec(select(WebhookEvent).where(
                    WebhookEvent.delivered_at.is_(None), WebhookEvent.next_attempt_at <= now,
                    WebhookEvent.attempts < MAX_ATTEMPTS).order_by(WebhookEvent.id).limit(1)).first()
                if event is None:
                    return delivered
                # read before the UPDATE: SQLAlchemy synchronizes the loaded object with the values it sets
                event_id, kind, body, attempt = event.id, event.kind, event.payload.encode(), event.attempts + 1
                claimed = session.execute(update(WebhookEvent).where(
                    WebhookEvent.id == event_id, WebhookEvent.next_attempt_at == event.next_attempt_at)
                    .values(next_attempt_at=now + LEASE, attempts=attempt)).rowcount
            if not claimed:
                continue
            status, error, started = None, "", time.monotonic()
            try:
                response = requests.post(self.url, data=body, timeout=TIMEOUT, allow_redirects=False, headers={
                    "Content-Type": "application/json; charset=utf-8", "User-Agent": "Qianyue-Webhook/1",
                    "X-Qianyue-Event": kind, "X-Qianyue-Delivery": str(event_id),
                    "X-Qianyue-Signature": signature(self.secret, body)})
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {response.text[:500]}"
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
            elapsed = int((time.monotonic() - started) * 1000)
            with db.write() as session:
                session.add(WebhookDelivery(event_id=event_id, attempt=attempt, url=self.url[:500], status_code=status,
                                            error=error, duration_ms=elapsed))
                values = {"last_status": status, "last_error": error}
                if error:
                    values["next_attempt_at"] = now + timedelta(minutes=2 ** attempt)
                else:
                    values["delivered_at"] = utcnow()
                session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
            delivered += 0 if error else 1
        return delivered
