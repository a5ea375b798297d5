"""Mail over real SMTP (a local aiosmtpd server): task arrival, returns, the overdue digest, and outages."""
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from tests.conftest import Api, free_port, load_fixture
from webapp import create_app
from workflows.clock import utcnow
from workflows.models import OutboxMail


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(make_header(decode_header(message["Subject"]))),
                              "body": message.get_payload(decode=True).decode("utf-8")})
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if address in m["to"]]


@pytest.fixture
def smtp():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


def mail_app(database_url, tmp_path, port):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path),
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "MAIL_DEFAULT_SENDER": "qianyue@provider.example"})


@pytest.fixture
def mailing(database_url, tmp_path, smtp):
    app = mail_app(database_url, tmp_path, smtp.port)
    yield app, Api(app.test_client(), app.extensions["qianyue"])
    app.extensions["qianyue"].db.dispose()


def test_a_task_arrival_mails_the_role_and_a_return_mails_sales(mailing, smtp):
    app, api = mailing
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    [arrived] = smtp.to("legal@provider.example")
    assert contract["number"] in arrived["subject"] and "法务审核" in arrived["subject"]
    assert "/tasks/" in arrived["body"]
    api.decide("legal", contract["id"], "return", "第十一条联系人与首页不一致")
    returned = [m for m in smtp.to("sales@provider.example") if "退回" in m["subject"]]
    assert len(returned) == 1 and "第十一条联系人与首页不一致" in returned[0]["body"]


def test_the_daily_digest_lists_overdue_tasks_per_user(mailing, smtp):
    app, api = mailing
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    platform = app.extensions["qianyue"]
    with platform.db.write() as session:
        assert platform.notifications.queue_overdue_digest(session, now=utcnow() + timedelta(days=3)) == 1
    digest = [m for m in smtp.to("legal@provider.example") if "逾期" in m["subject"]]
    assert len(digest) == 1 and contract["number"] in digest[0]["body"]


def test_a_mail_outage_never_blocks_a_decision_and_is_retried(database_url, tmp_path):
    closed = free_port()  # nothing listens here
    app = mail_app(database_url, tmp_path, closed)
    api = Api(app.test_client(), app.extensions["qianyue"])
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 200
    platform = app.extensions["qianyue"]
    with platform.db.read() as session:
        [waiting] = session.exec(select(OutboxMail).where(OutboxMail.sent_at.is_(None))).all()
    assert waiting.attempts == 1 and waiting.last_error
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=closed)
    controller.start()
    try:
        with platform.db.write() as session:  # the back-off has not passed yet; pretend it has
            session.get(OutboxMail, waiting.id).next_attempt_at = utcnow()
        assert platform.notifications.deliver_pending() == 1
        assert inbox.to("legal@provider.example")
        assert platform.notifications.deliver_pending() == 0  # sent once, never again
    finally:
        controller.stop()
        platform.db.dispose()
