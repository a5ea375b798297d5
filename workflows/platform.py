"""The services over one database, wired together: what the web app, the CLI and tests use."""
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
        self.jobs = JobService(self.db)  # background work after commit; kinds are registered where the platform is wired
        self.history = HistoryService()
        self.accounts = AccountService()
        self.repository = RepositoryService()
        self.tasks = TaskService(self.history)
        self.runtime = RuntimeService(self.repository, self.tasks, self.history)
        self.tasks.runtime = self.runtime
        self.timers = TimerService(self.db, self.runtime)
        self.templates = TemplateService()
        self.contracts = ContractService(self)
        self.sessions = SessionService()
        self.inbox = InboxService()
        self.notifications = NotificationService(self, Mailer(mail_settings) if mail_settings else None, base_url)
        self.customers = CustomerService(self, base_url)  # invitations on the customer step; uses notifications
        self.webhooks = WebhookService(self, webhook_url, webhook_secret)  # contract.activated for downstream systems
        self.letters = LetterService(self)  # commitment letters: attach, fill, sign; the activation gate
