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
from typing import NamedTuple

from sqlmodel import select

from ..db import ManyRows, Statement
from ..models import Contract, HumanTask, OutboxMail, User
from ..clock import china_time, utcnow

MAIL, DIGEST = "mail.send", "mail.digest"
MAIL_POLICY = {"max_attempts": 8, "backoff": timedelta(minutes=2)}  # 2, 4 ... 128 minutes: about 4 hours in all
DIGEST_POLICY = {"max_attempts": 3, "backoff": timedelta(minutes=5)}
CONTRACT_FACTS = Statement("SELECT id, number, title, customer_name, created_by FROM contract WHERE id = :id")
ACTIVE_USERS = Statement("SELECT username, display_name, email, roles FROM app_user WHERE active")
INSERT_MAILS = ManyRows(
    "INSERT INTO outbox_mail (kind, to_addr, subject, body, contract_id, created_at, sent_at) VALUES {rows} "
    "RETURNING id, contract_id", "(:kind, :to_addr, :subject, :body, :contract_id, :created_at, NULL)",
    created_at=OutboxMail.__table__.c.created_at)
MAIL_TO_SEND = Statement("SELECT id, to_addr, subject, body, sent_at FROM outbox_mail WHERE id = :id")
MARK_SENT = Statement("UPDATE outbox_mail SET sent_at = :now WHERE id = :id AND sent_at IS NULL",
                      now=OutboxMail.__table__.c.sent_at)
UNSENT = Statement("SELECT id, contract_id FROM outbox_mail WHERE sent_at IS NULL ORDER BY id")
DIGEST_WRITTEN = Statement("SELECT 1 FROM outbox_mail WHERE kind = 'overdue_digest' AND created_at >= :since LIMIT 1",
                           since=OutboxMail.__table__.c.created_at)


class Mail(NamedTuple):
    kind: str
    to: str
    subject: str
    body: str
    contract_id: int | None = None


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
        self.enqueue_many(session, [Mail(kind, to, subject, body, contract_id)])

    def enqueue_many(self, session, mails):
        """``enqueue`` for many mails (to no address: none) in two statements, however many: a task arriving for a
        role of 25 people is one insert into the outbox and one of their delivery jobs, not 25 round trips of each."""
        now = utcnow()
        recorded = INSERT_MAILS.rows(session, [{"kind": m.kind, "to_addr": m.to, "subject": m.subject, "body": m.body,
                                                "contract_id": m.contract_id, "created_at": now} for m in mails if m.to])
        if self.mailer is not None:
            self._enqueue_deliveries(session, recorded)

    def _enqueue_deliveries(self, session, mails):
        """Delivery jobs for recorded mails (rows with ``id`` and ``contract_id``)."""
        self.jobs.enqueue_many(session, MAIL, [({"mail_id": mail.id}, mail.contract_id, f"{MAIL}:{mail.id}")
                                               for mail in mails])

    def mail_task_holders(self, session, step):
        """Step listener: mail the holders of each new task's role, and the drafter of a returned contract."""
        if step.contract_id is None or not (step.new_tasks or any(e.get("decision") == "return" for e in step.events)):
            return
        contract = CONTRACT_FACTS.first(session, {"id": step.contract_id})
        if contract is None:
            return
        returned = any(e.get("decision") == "return" for e in step.events)
        users, mails = self._active_users(session), []
        names = {user.username: user.display_name or user.username for user in users}
        for task in step.new_tasks:
            if returned and task["role"] == "sales":
                continue  # the return mail below tells sales, with the reviewer's comment
            if task["role"] == "customer":
                continue  # the contract's own signer is invited (CustomerService); no account hears of others' contracts
            for user in self._holders(users, task["role"], contract, task.get("candidate")):
                if user.username == step.actor:
                    continue  # nobody needs mail about the task they just made for themselves
                mails.append(Mail("task_arrived", user.email, f"[签约] 待办：{task['title']} · {contract.number}",
                                  f"{user.display_name}，您好：\n\n合同《{contract.title}》（{contract.number}，客户：{contract.customer_name}）"
                                  f"等待您处理：{task['title']}{self._substituting(names, task)}。\n截止时间：{china_time(task['due_at']):%Y-%m-%d %H:%M}（北京时间）\n\n"
                                  f"{self.base_url}/tasks/{task['id']}\n", contract.id))
        for event in step.events:
            if event.get("decision") == "return":
                mails += self._to_drafter(users, contract, "contract_returned", f"[签约] 合同被退回：{contract.number}",
                                          f"{names.get(event['actor'], event['actor'])} 退回了合同《{contract.title}》（{contract.number}）。\n"
                                          f"意见：{event.get('comment') or ''}\n\n请修改后重新提交：")
        self.enqueue_many(session, mails)

    def tell_drafter(self, session, contract_id, kind, subject, text):
        """Mail the staff member who drafted the contract (if still active): a greeting, ``text``, the contract's page."""
        contract = CONTRACT_FACTS.first(session, {"id": contract_id})
        self.enqueue_many(session, self._to_drafter(self._active_users(session), contract, kind, subject, text))

    def tell_both_sides(self, session, contract_id, contact_email, kind, subject, text):
        """Mail the drafter (with the contract's page) and the customer's contact (without it: staff pages are not
        theirs) the same news; one mail when they are the same address."""
        contract = CONTRACT_FACTS.first(session, {"id": contract_id})
        mails = self._to_drafter(self._active_users(session), contract, kind, subject, text)
        if contact_email and contact_email not in {mail.to for mail in mails}:
            mails.append(Mail(kind, contact_email, subject, f"您好：\n\n{text}", contract_id))
        self.enqueue_many(session, mails)

    def _to_drafter(self, users, contract, kind, subject, text):
        drafter = next((u for u in users if u.username == contract.created_by), None)
        if drafter is None:
            return []
        return [Mail(kind, drafter.email, subject,
                     f"{drafter.display_name}，您好：\n\n{text}{self.base_url}/contracts/{contract.id}\n", contract.id)]

    @staticmethod
    def _substituting(names, task):
        """What a substitute is told of the one they act for (a task named for someone out of office)."""
        absent = task.get("delegated_by")
        return f"（{names.get(absent, absent)} 外出，由您代为办理）" if absent else ""

    @staticmethod
    def _holders(users, role, contract, candidate=None):
        """Who hears of a task: its named approver, else its role's active users with an email; a draft's task only
        its drafter (the draft is theirs, not every account manager's)."""
        if candidate:
            return [u for u in users if u.username == candidate and u.email]
        holders = [u for u in users if role in u.roles.split(",") and u.email]
        return [u for u in holders if u.username == contract.created_by] if role == "sales" else holders

    def _active_users(self, session):
        return ACTIVE_USERS.rows(session)

    def queue_overdue_digest(self, session, now=None):
        """One mail per user listing the overdue open tasks of their roles. Returns the number queued."""
        now = now or utcnow()
        overdue = session.exec(select(HumanTask, Contract).join(Contract, Contract.id == HumanTask.contract_id)
                               .where(HumanTask.state == "open", HumanTask.due_at < now).order_by(HumanTask.due_at)).all()
        mails = []
        for user in session.exec(select(User).where(User.active)).all():
            mine = [(t, c) for t, c in overdue if t.role in user.role_set]
            if not mine or not user.email:
                continue
            lines = [f"- {t.title} · {c.number} · {c.customer_name} · 截止 {china_time(t.due_at):%Y-%m-%d %H:%M}（北京时间）"
                     f" · {self.base_url}/tasks/{t.id}"
                     for t, c in mine]
            mails.append(Mail("overdue_digest", user.email, f"[签约] 逾期待办 {len(mine)} 项",
                              f"{user.display_name}，您好：\n\n以下待办已逾期：\n" + "\n".join(lines) + "\n"))
        self.enqueue_many(session, mails)
        return len(mails)

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
            self._enqueue_deliveries(session, missing)
        return len(missing)
