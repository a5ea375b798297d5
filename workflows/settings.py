"""The deployment's settings: read from the environment once, typed, and checked together (README, "Configuration").

Every variable that configures the web app, the CLI and the job worker is a field here; ``webapp.config`` fills
Flask's config from it and the services get their parts of it, so nothing else reads ``os.environ``. Settings that
would not make a working deployment stop the process at start with every problem named at once
(:class:`SettingsError`). Production never reads nor creates the development secrets kept in the instance folder.

    .venv/bin/python -m workflows.settings    # the effective settings, secrets masked; exit status 1 when invalid
"""
import json
import re
import sys
from datetime import time
from pathlib import Path
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from .db import normalize_url
from .instance import generated_secret
from .mail import MailSettings
from .signing import LicensedCA, SigningSettings

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "production"
# request rate limits (webapp/limits.py), each "N per minute|hour" (several separated by ";")
RATE_LIMITS = {
    "RATELIMIT_SIGN_IN": "30 per minute",  # sign-in form posts per address, staff and identity provider together
    "RATELIMIT_INTENT_SIGNER": "10 per hour",  # one-time code requests per signer, every page and API route together
    "RATELIMIT_INTENT_ADDRESS": "30 per hour",  # one-time code requests per address
    "RATELIMIT_VERIFY": "10 per minute",  # /verify uploads per address
    "RATELIMIT_TSA": "120 per minute",  # /tsa time-stamp requests per token (anonymous: per address)
    "RATELIMIT_API": "600 per minute",  # API requests per bearer token (or signed-in user; else per address)
}
RateLimit = Annotated[str, Field(min_length=1)]


class SettingsError(RuntimeError):
    """Settings that would not make a working deployment: every problem, each naming its variable."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("the settings are not usable:\n" + "\n".join(f"  {problem}" for problem in self.problems))


class Settings(BaseSettings):
    """Field names are the variables' names. Fields are checked in the order declared, each problem collected (pydantic
    reports them all); a check that depends on another field reads it, declared earlier, from ``info.data``."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      validate_default=True)

    APP_ENV: Literal["production", "development"] = PRODUCTION
    QIANYUE_INSTANCE: Path = ROOT / "instance"  # development secrets, the SQLite database, the embedded IdP's key
    PORT: int = Field(5000, ge=1, le=65535)
    BASE_URL: str | None = None  # unset: http://127.0.0.1:PORT
    DATABASE_URL: str | None = None  # unset: SQLite in the instance folder (development only)
    SECRET_KEY: SecretStr | None = None
    AUDIT_KEY: SecretStr | None = None  # seals each contract's audit chain head: never in the database
    SIGNING_KEY_PASSPHRASE: SecretStr | None = None  # development: generated when the PKI is first opened
    # reverse proxies in front of the app whose X-Forwarded-For/-Proto (and X-Request-ID) are believed
    TRUSTED_PROXIES: int = Field(0, ge=0)
    DEMO_DATA_ENABLED: bool | None = None  # unset: on in development only
    EMBEDDED_IDP: bool | None = None  # unset: on in development only
    RUN_WORKER: bool = False  # a job worker thread inside the web process (`make run`)
    # seconds a job try may run before another worker takes the job for dead, for every kind; 0: each kind's own lease
    # (minutes). Short leases bring a killed worker's job back sooner (the cluster's fault test), and run again a try
    # that is merely slow
    JOB_LEASE_SECONDS: int = Field(0, ge=0)
    # how long done background jobs (and the record of each recurring run) are kept before the daily purge deletes
    # them; dead ones stay. At least 2: the runs of yesterday and today must stay for recurring jobs to run once
    JOB_RETENTION_DAYS: int = Field(14, ge=2)
    # when the daily digest of overdue tasks is mailed, China time (a recurring job: once across every node)
    DIGEST_AT: time = time(8, 0)
    # how many days before an instalment of an active contract falls due its reminder is mailed to the contract's
    # account manager and the customer's contact (the daily payment scan, 09:00 China time)
    PAYMENT_REMINDER_DAYS: int = Field(7, ge=1, le=90)
    OIDC_ISSUER: str = ""
    OIDC_CLIENT_ID: str = ""
    OIDC_CLIENT_SECRET: SecretStr = SecretStr("")
    OIDC_SCOPES: str = "openid email profile"
    OIDC_PROVIDERS: Annotated[list[dict], NoDecode] = []  # a JSON list (README, Configuration)
    STAFF_OIDC_PROVIDER: str = ""
    STAFF_ROLE_CLAIM: str = ""
    SIGNING_CA_FILE: str = ""
    SIGNING_CA_KEY_FILE: str = ""
    SIGNING_CA_PASSWORD: SecretStr = SecretStr("")
    SIGNING_CA_CHAIN_FILE: str = ""
    TSA_URL: str = ""
    TSA_TOKEN: SecretStr = SecretStr("")
    WEBHOOK_URL: str = ""  # unset: events are recorded, not sent (`flask webhooks send` once set)
    WEBHOOK_SECRET: SecretStr = SecretStr("")
    MAIL_SERVER: str = ""  # unset: mail is recorded, not sent (no delivery job; `flask mail send` once set)
    MAIL_PORT: int = Field(25, ge=1, le=65535)
    MAIL_USE_TLS: bool = False
    MAIL_USE_SSL: bool = False
    MAIL_USERNAME: str = ""
    MAIL_PASSWORD: SecretStr = SecretStr("")
    MAIL_DEFAULT_SENDER: str = MailSettings.default_sender
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_ENABLED: bool = True
    RATELIMIT_KEY_PREFIX: str = "qianyue"
    RATELIMIT_SIGN_IN: RateLimit = RATE_LIMITS["RATELIMIT_SIGN_IN"]
    RATELIMIT_INTENT_SIGNER: RateLimit = RATE_LIMITS["RATELIMIT_INTENT_SIGNER"]
    RATELIMIT_INTENT_ADDRESS: RateLimit = RATE_LIMITS["RATELIMIT_INTENT_ADDRESS"]
    RATELIMIT_VERIFY: RateLimit = RATE_LIMITS["RATELIMIT_VERIFY"]
    RATELIMIT_TSA: RateLimit = RATE_LIMITS["RATELIMIT_TSA"]
    RATELIMIT_API: RateLimit = RATE_LIMITS["RATELIMIT_API"]
    LOG_FORMAT: Literal["json", "text"] | None = None  # unset: json in production, text in development
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # gunicorn (gunicorn.conf.py, `make serve`)
    BIND: str | None = None  # unset: 127.0.0.1:PORT
    WEB_CONCURRENCY: int | None = Field(None, ge=1)  # unset: cores + 1
    WEB_THREADS: int = Field(12, ge=1)

    @classmethod
    def load(cls, overrides=None):
        """The environment's settings, ``overrides`` (tests pass theirs) taking precedence; SettingsError names every
        problem."""
        try:
            return cls(**(overrides or {}))
        except ValidationError as exc:
            raise SettingsError(_problems(exc)) from None

    # --- checks of single variables ---------------------------------------------------------------------------
    @field_validator("SECRET_KEY", "AUDIT_KEY", "SIGNING_KEY_PASSPHRASE")
    @classmethod
    def _secret_in_production(cls, value, info: ValidationInfo):
        if not value and info.data.get("APP_ENV") == PRODUCTION:
            raise ValueError("must be set when APP_ENV=production (the same on every node; the development one in "
                             "the instance folder is never used there)")
        return value or None

    @field_validator("DATABASE_URL")
    @classmethod
    def _database(cls, value, info: ValidationInfo):
        backend = None
        if value:
            try:
                backend = normalize_url(value).get_backend_name()
            except ArgumentError:
                raise ValueError("is not a database URL (write postgresql://user@host/db or sqlite:///path)") from None
            if backend not in ("postgresql", "sqlite"):
                raise ValueError(f"names {backend}: write postgresql://user@host/db or sqlite:///path")
        if backend != "postgresql" and info.data.get("APP_ENV") == PRODUCTION:
            raise ValueError("must name PostgreSQL (postgresql://user@host/db) when APP_ENV=production"
                             + (f", not {backend}" if backend else ""))
        return value or None

    @field_validator("BASE_URL")
    @classmethod
    def _base_url(cls, value):
        return _web_address(value, "https://contracts.example") if value else None

    @field_validator("OIDC_ISSUER", "TSA_URL", "WEBHOOK_URL")
    @classmethod
    def _address(cls, value):
        return _web_address(value, "https://host/path") if value else ""

    @field_validator("DIGEST_AT", mode="before")
    @classmethod
    def _time_of_day(cls, value):
        if isinstance(value, str) and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise ValueError("must be a time of day as HH:MM on the 24-hour clock (e.g. 08:00), China time")
        return value

    @field_validator("OIDC_CLIENT_ID")
    @classmethod
    def _client_of_issuer(cls, value, info: ValidationInfo):
        if not value and info.data.get("OIDC_ISSUER"):
            raise ValueError("must be set when OIDC_ISSUER is (this application's client there)")
        return value

    @field_validator("MAIL_USE_SSL")
    @classmethod
    def _one_kind_of_tls(cls, value, info: ValidationInfo):
        if value and info.data.get("MAIL_USE_TLS"):
            raise ValueError("cannot be set with MAIL_USE_TLS: STARTTLS on a plain port (MAIL_USE_TLS) or TLS from the "
                             "start (MAIL_USE_SSL), not both")
        return value

    @field_validator("OIDC_SCOPES")
    @classmethod
    def _openid_scope(cls, value):
        if "openid" not in value.split():
            raise ValueError("must include openid (the ID token is verified only then)")
        return value

    @field_validator("OIDC_PROVIDERS", mode="before")
    @classmethod
    def _providers(cls, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(value, list):
            raise ValueError("must be a JSON list of providers")
        return value

    @field_validator(*RATE_LIMITS)
    @classmethod
    def _rate_limit(cls, value):
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit (write e.g. '10 per minute', several separated by ';')") \
                from None
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _level_in_capitals(cls, value):
        return value.upper() if isinstance(value, str) else value

    # --- what follows from several ----------------------------------------------------------------------------
    @model_validator(mode="after")
    def _derived(self):
        """The one place that derives a setting from others; development keeps its secrets in the instance folder."""
        development = self.APP_ENV != PRODUCTION
        self.BASE_URL = self.BASE_URL or f"http://127.0.0.1:{self.PORT}"
        self.DATABASE_URL = self.DATABASE_URL or f"sqlite:///{self.QIANYUE_INSTANCE / 'qianyue.db'}"
        self.DEMO_DATA_ENABLED = development if self.DEMO_DATA_ENABLED is None else self.DEMO_DATA_ENABLED
        self.EMBEDDED_IDP = development if self.EMBEDDED_IDP is None else self.EMBEDDED_IDP
        self.LOG_FORMAT = self.LOG_FORMAT or ("text" if development else "json")
        for name in ("SECRET_KEY", "AUDIT_KEY"):
            if getattr(self, name) is None:  # only in development: production was refused above
                setattr(self, name, SecretStr(generated_secret(self.QIANYUE_INSTANCE / name.lower(), 48)))
        return self

    # --- the parts the services take ---------------------------------------------------------------------------
    @property
    def production(self):
        return self.APP_ENV == PRODUCTION

    def mail(self):
        """SMTP for notifications, or None: mail then waits in the outbox."""
        if not self.MAIL_SERVER:
            return None
        return MailSettings(self.MAIL_SERVER, self.MAIL_PORT, self.MAIL_USE_TLS, self.MAIL_USE_SSL, self.MAIL_USERNAME,
                            self.MAIL_PASSWORD.get_secret_value(), self.MAIL_DEFAULT_SENDER)

    def signing(self):
        """The PKI's settings. A licensed CA is loaded here, at startup: files that do not load, or a key that is not
        the certificate's, stop the app (``PKIError`` names the setting) rather than the first signature."""
        licensed = None
        if self.SIGNING_CA_FILE:
            licensed = LicensedCA.from_files(self.SIGNING_CA_FILE, self.SIGNING_CA_KEY_FILE or None,
                                             self.SIGNING_CA_PASSWORD.get_secret_value().encode() or None,
                                             self.SIGNING_CA_CHAIN_FILE or None)
        return SigningSettings(str(self.QIANYUE_INSTANCE), self.APP_ENV, licensed, self.TSA_URL or None,
                               self.TSA_TOKEN.get_secret_value() or None,
                               _secret(self.SIGNING_KEY_PASSPHRASE) or None)

    def described(self):
        """``NAME=value`` lines, secrets masked (a secret's presence is shown, never its value)."""
        lines = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) or value is None:
                shown = "(set)" if value else "(unset)"
            elif name == "OIDC_PROVIDERS":  # their client secrets
                shown = ", ".join(f"{item.get('name', '?')} ({item.get('kind', 'oidc')})" for item in value) or "[]"
            elif name in ("DATABASE_URL", "RATELIMIT_STORAGE_URI"):  # may carry a password
                shown = _without_password(value)
            else:
                shown = str(value)
            lines.append(f"{name}={shown}")
        return lines


def _secret(value):
    return value.get_secret_value() if value else ""


def _web_address(value, example):
    """An absolute http(s) address, without a trailing slash (links are built by appending paths)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) address (write e.g. {example})")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"{value!r} has a port that is not a number from 1 to 65535") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an address without ?query or #fragment")
    return value.rstrip("/")


def _without_password(url):
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# values never repeated in a message: secrets, and values that may hold one
UNSHOWN = {name for name, field in Settings.model_fields.items()
           if SecretStr in (field.annotation, *get_args(field.annotation))} | {
    "DATABASE_URL", "RATELIMIT_STORAGE_URI", "OIDC_PROVIDERS"}


def _problems(error: ValidationError):
    """One line per problem: the variable, what is wrong, and the value given (never a secret's)."""
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else ""
        message = item["msg"].removeprefix("Value error, ")
        if name and item["type"] != "value_error" and name not in UNSHOWN:
            message += f" (got {item['input']!r})"
        yield f"{name}: {message}" if name else message


def main():
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(settings.described()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
