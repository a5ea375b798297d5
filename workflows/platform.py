"""The services over one database, wired in one place: what the web app, the CLI, the worker and tests use.

Services are constructed in the order of their dependencies; what runs inside a process step is declared at the
end, in the order it runs: the step listeners, the functions the diagram's scripts may call, and the guards that
may refuse a decision before anything changes. No service registers itself.
"""
from .db import Database
from .mail import Mailer
from .services.accounts import AccountService
from .services.contracts import ContractService
from .services.customers import CustomerService
from .services.definitions import RepositoryService
from .services.history import HistoryService
from .services.inbox import InboxService
from .services.jobs import JobService
from .services.letters import LetterService
from .services.notifications import NotificationService
from .services.runtime import RuntimeService
from .services.sessions import SessionService
from .services.tasks import TaskService
from .services.templates import TemplateService
from .services.timers import TimerService
from .services.webhooks import WebhookService


class Platform:
    def __init__(self, database_url, echo=False, mail_settings=None, base_url="http://127.0.0.1:5000", webhook_url="",
                 webhook_secret=""):
        self.db = Database(database_url, echo=echo)
        # the engine: definitions, instances, the inbox, history, timers
        self.jobs = JobService(self.db)
        self.history = HistoryService()
        self.repository = RepositoryService()
        self.runtime = RuntimeService(self.db, self.repository, self.history)
        self.tasks = TaskService(self.runtime, self.history)
        self.runtime.tasks = self.tasks
        self.timers = TimerService(self.db, self.runtime)
        # the domain
        self.accounts = AccountService()
        self.sessions = SessionService()
        self.inbox = InboxService()
        self.templates = TemplateService()
        self.contracts = ContractService(self)
        self.notifications = NotificationService(self, Mailer(mail_settings) if mail_settings else None, base_url)
        self.customers = CustomerService(self, base_url)
        self.webhooks = WebhookService(self, webhook_url, webhook_secret)
        self.letters = LetterService(self)
        self._declare_process_hooks()

    def _declare_process_hooks(self):
        self.runtime.step_listeners = [
            self.contracts.follow_process,                    # the contract's status names the open step
            self.notifications.mail_task_holders,             # mail to whoever must act next
            self.customers.invite_and_remind,                 # the customer's signer is invited, or reminded
            self.letters.attach_when_customer_task_opens,     # the mandated letters are attached
        ]
        self.runtime.functions = {
            "activation_check": self.letters.activation_check,
            "activate_contract": self.letters.activate_contract,
            "notify_renewal": self.letters.notify_renewal,
        }
        self.tasks.guards = [
            self.letters.refuse_countersign_while_incomplete,
        ]
