"""Notifications: who hears about what, written to the outbox in the step's transaction.

- a task arrives: every active user holding its role;
- a reviewer returns a contract: the sales user who drafted it;
- daily: each user gets a digest of the overdue tasks of their roles.
Delivery happens after commit (and ``flask --app wsgi mail send`` retries what failed), so a
rolled-back step never sends mail and a mail server outage never blocks a decision.
"""
import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from ..db import Statement, after_commit, insert_statement
from ..models import Contract, HumanTask, OutboxMail, User
from ..clock import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
CONTRACT_FACTS = Statement("SELECT id, number, title, customer_name, created_by FROM contract WHERE id = :id")
ACTIVE_USERS = Statement("SELECT username, display_name, email, roles FROM app_user WHERE active")
INSERT_MAIL = insert_statement(OutboxMail.__table__, exclude=("id",))
MAX_ATTEMPTS = 8


class NotificationService:
    def __init__(self, db, mailer=None, base_url="http://127.0.0.1:5000"):
        self.db = db
        self.mailer = mailer
        self.base_url = base_url
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    # --- what to say -----------------------------------------------------------
    def enqueue(self, session, kind, to, subject, body, contract_id=None):
        if not to:
            return
        now = utcnow()
        INSERT_MAIL.execute(session, {"kind": kind, "to_addr": to, "subject": subject, "body": body, "contract_id": contract_id,
                                      "created_at": now, "next_attempt_at": now, "attempts": 0, "sent_at": None,
                                      "last_error": ""})
        if self.mailer is not None:
            after_commit(session, self.deliver_soon)

    def mail_task_holders(self, session, step):
        """Step listener: mail the holders of each new task's role, and the drafter of a returned contract."""
        if step.contract_id is None or not (step.new_tasks or any(e.get("decision") == "return" for e in step.events)):
            return
        contract = CONTRACT_FACTS.first(session, {"id": step.contract_id})
        if contract is None:
            return
        returned = any(e.get("decision") == "return" for e in step.events)
        for task in step.new_tasks:
            if returned and task["role"] == "sales":
                continue  # the return mail below tells sales, with the reviewer's comment
            if task["role"] == "customer":
                continue  # the contract's own signer is invited (CustomerService); no account hears of others' contracts
            for user in self._holders(session, task["role"]):
                if user.username == step.actor:
                    continue  # nobody needs mail about the task they just made for themselves
                self.enqueue(session, "task_arrived", user.email,
                             f"[签约] 待办：{task['title']} · {contract.number}",
                             f"{user.display_name}，您好：\n\n合同《{contract.title}》（{contract.number}，客户：{contract.customer_name}）"
                             f"等待您处理：{task['title']}。\n截止时间：{task['due_at']:%Y-%m-%d %H:%M} (UTC)\n\n"
                             f"{self.base_url}/tasks/{task['id']}\n", contract.id)
        for event in step.events:
            if event.get("decision") == "return":
                self.tell_drafter(session, contract.id, "contract_returned", f"[签约] 合同被退回：{contract.number}",
                                  f"{event['actor']} 退回了合同《{contract.title}》（{contract.number}）。\n"
                                  f"意见：{event.get('comment') or ''}\n\n请修改后重新提交：", contract=contract)

    def tell_drafter(self, session, contract_id, kind, subject, text, contract=None):
        """Mail the staff member who drafted the contract (if still active): a greeting, ``text``, the contract's page."""
        contract = contract or CONTRACT_FACTS.first(session, {"id": contract_id})
        drafter = next((u for u in self._active_users(session) if u.username == contract.created_by), None)
        if drafter is not None:
            self.enqueue(session, kind, drafter.email, subject,
                         f"{drafter.display_name}，您好：\n\n{text}{self.base_url}/contracts/{contract.id}\n", contract.id)

    def _holders(self, session, role):
        return [u for u in self._active_users(session) if role in u.roles.split(",") and u.email]

    def _active_users(self, session):
        return ACTIVE_USERS.rows(session)

    def queue_overdue_digest(self, session, now=None):
        """One mail per user listing the overdue open tasks of their roles. Returns the number queued."""
        now = now or utcnow()
        overdue = session.exec(select(HumanTask, Contract).join(Contract, Contract.id == HumanTask.contract_id)
                               .where(HumanTask.state == "open", HumanTask.due_at < now).order_by(HumanTask.due_at)).all()
        queued = 0
        for user in session.exec(select(User).where(User.active)).all():
            mine = [(t, c) for t, c in overdue if t.role in user.role_set]
            if not mine or not user.email:
                continue
            lines = [f"- {t.title} · {c.number} · {c.customer_name} · 截止 {t.due_at:%Y-%m-%d %H:%M} · {self.base_url}/tasks/{t.id}"
                     for t, c in mine]
            self.enqueue(session, "overdue_digest", user.email, f"[签约] 逾期待办 {len(mine)} 项",
                         f"{user.display_name}，您好：\n\n以下待办已逾期：\n" + "\n".join(lines) + "\n")
            queued += 1
        return queued

    # --- delivery ----------------------------------------------------------------
    def deliver_soon(self):
        """After commit: deliver now, in this thread; failures stay in the outbox for the retry command."""
        try:
            self.deliver_pending()
        except Exception:  # a mail outage must never turn a committed decision into an error page
            log.exception("mail delivery failed; `flask --app wsgi mail send` retries")

    def deliver_pending(self, limit=100):
        """Send what is due; each mail is claimed first (a lease), so two senders never send one twice."""
        sent = 0
        if self.mailer is None:  # MAIL_SERVER unset: mail waits in the outbox
            return sent
        db = self.db
        for _ in range(limit):
            now = utcnow()
            with db.write() as session:
                mail = session.exec(select(OutboxMail).where(
                    OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= now, OutboxMail.attempts < MAX_ATTEMPTS)
                    .order_by(OutboxMail.id).limit(1)).first()
                if mail is None:
                    return sent
                claimed = session.execute(update(OutboxMail).where(
                    OutboxMail.id == mail.id, OutboxMail.next_attempt_at == mail.next_attempt_at)
                    .values(next_attempt_at=now + LEASE, attempts=mail.attempts + 1)).rowcount
                to, subject, body, mail_id, attempts = mail.to_addr, mail.subject, mail.body, mail.id, mail.attempts + 1
            if not claimed:
                continue
            try:
                self.mailer.send(to, subject, body)
            except Exception as exc:  # smtplib raises OSError and SMTPException subclasses; all are retried
                with db.write() as session:
                    session.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(
                        last_error=str(exc)[:2000], next_attempt_at=utcnow() + timedelta(minutes=2 ** attempts)))
                continue
            with db.write() as session:
                session.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(sent_at=utcnow(), last_error=""))
            sent += 1
        return sent
