"""Notifications: who hears about what, written to the outbox in the step's transaction.

- a task arrives: every active user holding its role;
- a reviewer returns a contract: the sales user who drafted it;
- daily: each user gets a digest of the overdue tasks of their roles (a recurring job, once across all nodes).
Each mail is a row of ``outbox_mail`` (what was said, to whom, when it went out) and, when the deployment sends mail
(``MAIL_SERVER``), a ``mail.send`` job written in the same transaction: a rolled-back step never sends mail, a
committed one is sent by a worker, never in the request, and an SMTP outage is the job's back-off, then a dead job
on ``/admin/jobs``. Without ``MAIL_SERVER`` mail is recorded only (and ``flask mail send`` enqueues it once set).
"""
from datetime import timedelta

from sqlmodel import select

from ..db import Statement, insert_statement
from ..models import Contract, HumanTask, OutboxMail, User
from ..clock import china_time, utcnow

MAIL, DIGEST = "mail.send", "mail.digest"
MAIL_POLICY = {"max_attempts": 8, "backoff": timedelta(minutes=2)}  # 2, 4 ... 128 minutes: about 4 hours in all
DIGEST_POLICY = {"max_attempts": 3, "backoff": timedelta(minutes=5)}
CONTRACT_FACTS = Statement("SELECT id, number, title, customer_name, created_by FROM contract WHERE id = :id")
ACTIVE_USERS = Statement("SELECT username, display_name, email, roles FROM app_user WHERE active")
INSERT_MAIL = insert_statement(OutboxMail.__table__, exclude=("id",), returning="id")
MAIL_TO_SEND = Statement("SELECT id, to_addr, subject, body, sent_at FROM outbox_mail WHERE id = :id")
MARK_SENT = Statement("UPDATE outbox_mail SET sent_at = :now WHERE id = :id AND sent_at IS NULL",
                      now=OutboxMail.__table__.c.sent_at)
UNSENT = Statement("SELECT id, contract_id FROM outbox_mail WHERE sent_at IS NULL ORDER BY id")
DIGEST_WRITTEN = Statement("SELECT 1 FROM outbox_mail WHERE kind = 'overdue_digest' AND created_at >= :since LIMIT 1",
                           since=OutboxMail.__table__.c.created_at)


class MailNotConfigured(RuntimeError):
    """A mail job ran on a node without ``MAIL_SERVER``: a failed try (another node, or this one configured, sends)."""


class NotificationService:
    def __init__(self, db, jobs, mailer=None, base_url="http://127.0.0.1:5000"):
        self.db = db
        self.jobs = jobs
        self.mailer = mailer
        self.base_url = base_url

    # --- what to say -----------------------------------------------------------
    def enqueue(self, session, kind, to, subject, body, contract_id=None):
        """Record a mail and, when this deployment sends mail, its delivery job: both in the caller's transaction."""
        if not to:
            return
        mail_id = INSERT_MAIL.scalar(session, {"kind": kind, "to_addr": to, "subject": subject, "body": body,
                                               "contract_id": contract_id, "created_at": utcnow(), "sent_at": None})
        if self.mailer is not None:
            self._enqueue_delivery(session, mail_id, contract_id)

    def _enqueue_delivery(self, session, mail_id, contract_id):
        self.jobs.enqueue(session, MAIL, {"mail_id": mail_id}, contract_id=contract_id, dedupe_key=f"{MAIL}:{mail_id}")

    def mail_task_holders(self, session, step):
        """Step listener: mail the holders of each new task's role, and the drafter of a returned contract."""
        if step.contract_id is None or not (step.new_tasks or any(e.get("decision") == "return" for e in step.events)):
            return
        contract = CONTRACT_FACTS.first(session, {"id": step.contract_id})
        if contract is None:
            return
        returned = any(e.get("decision") == "return" for e in step.events)
        users = self._active_users(session)
        for task in step.new_tasks:
            if returned and task["role"] == "sales":
                continue  # the return mail below tells sales, with the reviewer's comment
            if task["role"] == "customer":
                continue  # the contract's own signer is invited (CustomerService); no account hears of others' contracts
            for user in self._holders(users, task["role"], contract):
                if user.username == step.actor:
                    continue  # nobody needs mail about the task they just made for themselves
                self.enqueue(session, "task_arrived", user.email,
                             f"[签约] 待办：{task['title']} · {contract.number}",
                             f"{user.display_name}，您好：\n\n合同《{contract.title}》（{contract.number}，客户：{contract.customer_name}）"
                             f"等待您处理：{task['title']}。\n截止时间：{china_time(task['due_at']):%Y-%m-%d %H:%M}（北京时间）\n\n"
                             f"{self.base_url}/tasks/{task['id']}\n", contract.id)
        names = {user.username: user.display_name or user.username for user in users}
        for event in step.events:
            if event.get("decision") == "return":
                self.tell_drafter(session, contract.id, "contract_returned", f"[签约] 合同被退回：{contract.number}",
                                  f"{names.get(event['actor'], event['actor'])} 退回了合同《{contract.title}》（{contract.number}）。\n"
                                  f"意见：{event.get('comment') or ''}\n\n请修改后重新提交：", contract=contract)

    def tell_drafter(self, session, contract_id, kind, subject, text, contract=None):
        """Mail the staff member who drafted the contract (if still active): a greeting, ``text``, the contract's page."""
        contract = contract or CONTRACT_FACTS.first(session, {"id": contract_id})
        drafter = next((u for u in self._active_users(session) if u.username == contract.created_by), None)
        if drafter is not None:
            self.enqueue(session, kind, drafter.email, subject,
                         f"{drafter.display_name}，您好：\n\n{text}{self.base_url}/contracts/{contract.id}\n", contract.id)

    @staticmethod
    def _holders(users, role, contract):
        """Who hears of a task: its role's active users with an email; a draft's task only its drafter (the draft is
        theirs, not every account manager's)."""
        holders = [u for u in users if role in u.roles.split(",") and u.email]
        return [u for u in holders if u.username == contract.created_by] if role == "sales" else holders

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
            lines = [f"- {t.title} · {c.number} · {c.customer_name} · 截止 {china_time(t.due_at):%Y-%m-%d %H:%M}（北京时间）"
                     f" · {self.base_url}/tasks/{t.id}"
                     for t, c in mine]
            self.enqueue(session, "overdue_digest", user.email, f"[签约] 逾期待办 {len(mine)} 项",
                         f"{user.display_name}，您好：\n\n以下待办已逾期：\n" + "\n".join(lines) + "\n")
            queued += 1
        return queued

    # --- delivery (job handlers) ----------------------------------------------------
    def send(self, job):
        """``mail.send``: send one recorded mail over SMTP and note when. Any SMTP or network error is a failed try
        (the job backs off, then dies); a mail already sent (a try whose outcome was lost) is not sent again."""
        if self.mailer is None:
            raise MailNotConfigured("MAIL_SERVER is not set on this node")
        with self.db.read() as session:
            mail = MAIL_TO_SEND.first(session, {"id": job.payload["mail_id"]})
        if mail is None or mail.sent_at is not None:
            return
        self.mailer.send(mail.to_addr, mail.subject, mail.body)
        with self.db.write() as session:
            MARK_SENT.execute(session, {"id": mail.id, "now": utcnow()})

    def send_digest(self, job):
        """``mail.digest`` (daily, ``JobService.register_recurring``): write the overdue digest as of the run, in one
        transaction; a second try after one whose outcome was lost finds the mail written and writes nothing."""
        with self.db.write() as session:
            if DIGEST_WRITTEN.scalar(session, {"since": job.created_at}) is None:
                self.queue_overdue_digest(session, now=job.started_at)

    def enqueue_unsent(self):
        """Delivery jobs for recorded mail that never had one (written while ``MAIL_SERVER`` was unset, or before
        delivery was a job); returns how many. A dead job is retried on /admin/jobs, not here."""
        with self.db.write() as session:
            keys = self.jobs.dedupe_keys(session, MAIL)
            missing = [mail for mail in UNSENT.rows(session) if f"{MAIL}:{mail.id}" not in keys]
            for mail in missing:
                self._enqueue_delivery(session, mail.id, mail.contract_id)
        return len(missing)
