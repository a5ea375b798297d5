"""The services over one database, wired in one place: what the web app, the CLI, the worker and tests use.

Three layers, constructed in the order of their dependencies:

- the engine (Camunda's names): ``repository`` (process definitions), ``runtime`` (instances and steps), ``tasks``
  (the inbox), ``history``, ``timers``, ``jobs`` (durable background work);
- the domain: contracts and their versions, templates, letters, customers, documents, accounts, notifications...;
- the use cases, which own their transactions and enforce who may act on which contract: ``drafting``,
  ``approval``, ``invitations``, ``signing``, ``seal``, ``renewals``, ``termination``, ``amendments``, ``register`` (and
  ``access``, the one policy they share).

What runs inside a process step is declared at the end, in the order it runs: the step listeners, the functions the
diagram's scripts may call, the guards that may refuse a decision before anything changes, and the job handlers (with
the recurring jobs). No service registers itself.
"""
from dataclasses import replace
from datetime import time, timedelta
from threading import Lock

from .db import Database
from .mail import Mailer
from .services.absences import AbsenceService
from .services.access import AccessService
from .services.accounts import AccountService
from .services.activation import ActivationService
from .services.additions import AdditionService
from .services.amendments import AmendmentService
from .services.approval import ApprovalService
from .services.contracts import ContractService
from .services.customers import CustomerService
from .services.dashboards import DashboardService
from .services.definitions import RepositoryService
from .services.documents import DocumentService
from .services.drafting import DraftingService
from .services.escalation import EscalationService
from .services.health import HealthService
from .services.history import ANCHOR, HistoryService
from .services.inbox import InboxService
from .services.org import OrgService
from .services.invitations import InvitationService
from .services.jobs import PURGE, PURGE_AT, JobService
from .services.letters import LetterService
from .services import notifications, payments, timers, webhooks
from .services.notifications import DIGEST, MAIL, NotificationService
from .services.payments import SCAN, SCAN_AT, PaymentService
from .services.people import PeopleService
from .services.register import INDEX, RegisterService
from .services.renewals import RenewalService
from .services.runtime import TIMER, RuntimeService
from .services.seal import SealService
from .services.sessions import SessionService
from .services.signing import FINALIZE, PREPARE, SigningService
from .services.supplements import PREPARE as SUPPLEMENT, SupplementService
from .services.tasks import TaskService
from .services.templates import TemplateService
from .services.termination import TerminationService
from .services.timers import TimerService
from .services.webhooks import DELIVER, WebhookService
from .services.working_days import WorkingDayService
from .signing import SigningToolkit


class Platform:
    def __init__(self, database_url, *, audit_key: bytes, echo=False, mail_settings=None,
                 base_url="http://127.0.0.1:5000", webhook_url="", webhook_secret="", signing_settings=None,
                 log_codes=False, digest_at=time(8, 0), payment_reminder_days=7, job_lease=None,
                 job_retention=timedelta(days=14)):
        self.db = Database(database_url, echo=echo)
        # the engine
        self.jobs = JobService(self.db, job_retention)
        self.history = HistoryService(self.db, self.jobs, audit_key, self.toolkit)
        self.repository = RepositoryService()
        self.runtime = RuntimeService(self.db, self.repository, self.history, self.jobs)
        self.tasks = TaskService(self.runtime, self.history)
        self.runtime.tasks = self.tasks
        self.timers = TimerService(self.db, self.runtime, self.jobs)
        # the domain
        self.accounts = AccountService()
        self.sessions = SessionService()
        self.inbox = InboxService()
        self.org = OrgService(self.db, self.history)
        self.people = PeopleService()
        self.templates = TemplateService()
        self.notifications = NotificationService(self.db, self.jobs, Mailer(mail_settings) if mail_settings else None,
                                                 base_url)
        self.absences = AbsenceService(self.db, self.history, self.tasks, self.notifications)
        self.tasks.absences = self.absences  # a task named for someone out of office goes to their substitute
        self.webhooks = WebhookService(self.db, self.jobs, webhook_url, webhook_secret)
        self.contracts = ContractService(self.runtime, self.templates, self.history)
        self.letters = LetterService(self.contracts, self.repository, self.history)
        self.customers = CustomerService(self.contracts, self.history, self.notifications, base_url)
        self.documents = DocumentService(self.contracts, self.letters, self.templates)
        self.signing_settings = signing_settings
        self._toolkit, self._toolkit_lock = None, Lock()
        # the use cases
        self.access = AccessService(self.contracts, self.tasks)
        self.health = HealthService(self.db, self.toolkit)
        self.signing = SigningService(self.db, self.access, self.contracts, self.letters, self.documents, self.tasks,
                                      self.history, self.jobs, self.notifications, self.toolkit, base_url, log_codes)
        self.register = RegisterService(self.db, self.access, self.contracts, self.documents, self.people, self.jobs)
        self.drafting = DraftingService(self.db, self.access, self.contracts, self.letters, self.register)
        self.additions = AdditionService(self.tasks, self.runtime, self.history)
        self.escalation = EscalationService(self.org, self.notifications)
        self.approval = ApprovalService(self.db, self.access, self.contracts, self.letters, self.documents, self.tasks,
                                        self.signing, self.additions, self.runtime, self.notifications)
        self.invitations = InvitationService(self.db, self.access, self.contracts, self.customers, self.letters)
        self.payments = PaymentService(self.db, self.contracts, self.history, self.notifications, self.webhooks,
                                       self.accounts, payment_reminder_days)
        self.dashboards = DashboardService()
        self.activation = ActivationService(self.contracts, self.tasks, self.letters, self.documents, self.signing,
                                            self.webhooks, self.notifications, self.accounts, self.payments)
        self.seal = SealService(self.tasks, self.org)
        self.working_days = WorkingDayService(self.db, self.access)
        self.amendments = AmendmentService(self.db, self.access, self.contracts, self.runtime, self.documents,
                                           self.tasks, self.history, self.notifications, self.webhooks, self.payments,
                                           self.working_days, self.people)
        self.supplements = SupplementService(self.db, self.access, self.contracts, self.documents, self.amendments,
                                             self.signing, self.tasks, self.history, self.jobs)
        self.signing.supplements = self.supplements
        self.renewals = RenewalService(self.db, self.access, self.contracts, self.letters, self.history,
                                       self.notifications, self.webhooks, self.payments, self.amendments)
        self.termination = TerminationService(self.db, self.access, self.contracts, self.runtime, self.notifications,
                                              self.webhooks, self.payments, self.repository, self.history)
        self._declare_process_hooks(digest_at)
        if job_lease is not None:  # JOB_LEASE_SECONDS: one lease for every kind of job
            self.jobs.policies = {kind: replace(policy, lease=job_lease) for kind, policy in self.jobs.policies.items()}

    def toolkit(self):
        """The deployment's signing toolkit (its PKI, one for every process and node, is opened on first use)."""
        if self._toolkit is None:
            with self._toolkit_lock:
                if self._toolkit is None:
                    self._toolkit = SigningToolkit.open(self.db, self.signing_settings)
        return self._toolkit

    def use_toolkit(self, toolkit):
        """Sign with a toolkit opened elsewhere (tests that share one PKI across databases)."""
        self._toolkit = toolkit

    def _declare_process_hooks(self, digest_at):
        self.runtime.step_listeners = [
            self.contracts.follow_process,                     # the contract's status names the open step
            self.notifications.mail_task_holders,              # mail to whoever must act next
            self.customers.invite_and_remind,                  # the customer's signer is invited, or reminded
            self.letters.attach_when_customer_task_opens,      # the pinned letters are attached
            self.signing.prepare_when_customer_task_opens,     # the document to sign is rendered and certified (job)
            self.signing.finalize_when_active,                 # the signed package is built (job)
            self.additions.cancel_left_behind,                 # an added reviewer's task goes with its step
            self.seal.record_decisions,                        # 用印审批: each approver's decision, in their name
            self.amendments.void_when_contract_ends,           # the contract ended first: its 补充协议 is void
            self.supplements.prepare_when_agreed,              # an agreed change's 补充协议 is rendered (job)
        ]
        self.runtime.functions = {
            "activation_check": self.activation.activation_check,
            "activate_contract": self.activation.activate_contract,
            "notify_renewal": self.activation.notify_renewal,
            "renewal_terms": self.renewals.renewal_terms,
            "renew_term": self.renewals.renew_term,
            "terminate_contract": self.termination.terminate_contract,
            "end_term": self.termination.end_term,
            "amendment_answered": self.amendments.amendment_answered,
            "amendment_deemed_agreed": self.amendments.amendment_deemed_agreed,
            "amendment_lapsed": self.amendments.amendment_lapsed,
            "amendment_takes_effect": self.amendments.amendment_takes_effect,
            "amendment_to_sign": self.amendments.amendment_to_sign,
            "amendment_void": self.amendments.amendment_void,
            "resolve_approvers": self.org.resolve_approvers,
            "resolve_seal_approvers": self.seal.resolve_seal_approvers,
            "escalate_overdue": self.escalation.escalate_overdue,  # 审核超时: the overdue step goes to the supervisor
        }
        self.runtime.lift_data = self.activation.term_moments  # an instance moved into 合同履行期 (migration)
        self.tasks.guards = [
            self.activation.refuse_countersign_while_incomplete,
            self.seal.refuse_countersign_before_approval,       # 用印审批: the seal waits for its approvers
            self.additions.refuse_while_waiting,                # 加签: the step waits for the reviewer added to it
        ]
        self.jobs.register(PREPARE, self.signing.prepare)
        self.jobs.register(FINALIZE, self.signing.finalize)
        self.jobs.register(SUPPLEMENT, self.supplements.prepare)
        self.jobs.register(ANCHOR, self.history.anchor)
        self.jobs.register(TIMER, self.timers.fire, **timers.POLICY)
        self.jobs.register(MAIL, self.notifications.send, **notifications.MAIL_POLICY)
        self.jobs.register(DELIVER, self.webhooks.deliver, **webhooks.POLICY)
        self.jobs.register(DIGEST, self.notifications.send_digest, **notifications.DIGEST_POLICY)
        self.jobs.register(PURGE, self.jobs.purge)
        self.jobs.register(SCAN, self.payments.run_scan, **payments.SCAN_POLICY)
        self.jobs.register(INDEX, self.register.index_job)
        self.jobs.register_recurring("overdue_digest", DIGEST, digest_at)  # every day, China time
        self.jobs.register_recurring("purge_jobs", PURGE, PURGE_AT)
        self.jobs.register_recurring("payment_scan", SCAN, SCAN_AT)  # reminders and overdue instalments
