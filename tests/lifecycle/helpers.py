"""Helpers: an active contract whose term sits where a test needs it relative to today (China dates), the process's
waiting timers, what the outbox and the webhook outbox hold, and signing an amendment's 补充协议."""
from datetime import date, datetime, timedelta, timezone

from sqlmodel import select

from tests.letters.helpers import activate, complete_letters
from tests.process.test_lifecycle import small_contract
from workflows.clock import CHINA, china_time, utcnow
from workflows.models import HistoryEvent, OutboxMail, ProcessInstance, WebhookEvent

CUSTOMER_MAIL = "xu.yongli@school.example"  # seed 003's contact, the small contract's customer
SALES_MAIL = "sales@provider.example"


def today():
    return china_time(utcnow()).date()


def draft_with_term(start: date, end: date, auto_renew_months=0, notice_days=0):
    draft = small_contract()
    draft["term"] = {"start": start.isoformat(), "end": end.isoformat(), "auto_renew_months": auto_renew_months,
                     "notice_days": notice_days}
    draft["payment_plan"] = {"installments": [{"due_date": (start + timedelta(days=30)).isoformat(),
                                               "amount": "100000.00"}]}
    return draft


def activate_draft(api, contract_id):
    """A draft already written (seed 003's customer, whose integration account signs) through review to active."""
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    if api.tasks("finance", contract_id):
        api.decide("finance", contract_id, "approve")
    sign_both(api, contract_id)


def sign_both(api, contract_id):
    complete_letters(api, contract_id)
    api.decide("customer", contract_id, "sign")
    assert api.decide("signatory", contract_id, "sign")["contract"]["status"] == "active"


def active_contract(api, days_left, auto_renew_months=0, notice_days=0):
    """An active contract whose term began a year ago and ends ``days_left`` days from today."""
    end = today() + timedelta(days=days_left)
    return activate(api, draft_with_term(end - timedelta(days=365), end, auto_renew_months, notice_days))


def detail(api, contract_id, user="sales"):
    response = api.call("GET", f"/contracts/{contract_id}", user)
    assert response.status_code == 200, response.json
    return response.json


def china_midnight(day: date):
    """The start of a China day, as the UTC moment a timer job runs at."""
    return datetime.combine(day, datetime.min.time(), tzinfo=CHINA).astimezone(timezone.utc)


def waiting_timers(platform, contract_id):
    """The names of the timer events the contract's process waits on now (none once it ended)."""
    with platform.db.read() as session:
        instance = session.exec(select(ProcessInstance).where(ProcessInstance.business_key == str(contract_id))
                                .order_by(ProcessInstance.id.desc())).first()
        if instance.status != "running":
            return []
        step = platform.runtime.load(session, instance.id, "tests")
        return sorted(task.task_spec.name for task in step.timers)


def instance_status(platform, contract_id):
    with platform.db.read() as session:
        return session.exec(select(ProcessInstance.status).where(
            ProcessInstance.business_key == str(contract_id)).order_by(ProcessInstance.id.desc())).first()


def events(platform, contract_id, name):
    with platform.db.read() as session:
        return session.exec(select(HistoryEvent).where(HistoryEvent.contract_id == contract_id,
                                                       HistoryEvent.event == name).order_by(HistoryEvent.id)).all()


def mails(platform, contract_id, kind):
    with platform.db.read() as session:
        return session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id, OutboxMail.kind == kind)
                            .order_by(OutboxMail.id)).all()


def webhook_events(platform, contract_id):
    with platform.db.read() as session:
        return [(e.kind, e.payload) for e in session.exec(select(WebhookEvent).where(
            WebhookEvent.contract_id == contract_id).order_by(WebhookEvent.id))]


# --- an amendment's 补充协议 ------------------------------------------------------------------------------------------
TYPED = {"consent": True, "method": "typed", "typed_name": "徐永立"}


def amendment_path(contract_id, number):
    return f"/contracts/{contract_id}/amendments/{number}"


def amendment(api, contract_id, number, user="sales"):
    response = api.call("GET", amendment_path(contract_id, number), user)
    assert response.status_code == 200, response.json
    return response.json


def amendment_code(api, contract_id, number, user):
    response = api.call("POST", f"{amendment_path(contract_id, number)}/intent", user)
    assert response.status_code == 201, response.json
    return api.last_code(contract_id)


def sign_amendment(api, contract_id, number, user, **body):
    """``user``'s side signs the 补充协议 as it stands, with a fresh code (``body`` overrides any field)."""
    digest = amendment(api, contract_id, number, user)["document"]["sha256"]
    sent = {"document_sha256": digest, "intent_code": amendment_code(api, contract_id, number, user),
            **(TYPED if user == "customer" else {}), **body}
    return api.call("POST", f"{amendment_path(contract_id, number)}/sign", user, sent)


def sign_supplement(api, contract_id, number=1, parties=("customer", "signatory")):
    """The agreed change's 补充协议 rendered, then signed by each of ``parties``; the amendment afterwards."""
    api.run_jobs()
    for user in parties:
        response = sign_amendment(api, contract_id, number, user)
        assert response.status_code == 200, response.json
    return amendment(api, contract_id, number)
