"""Configuration from the environment (names in DESIGN.md section 4)."""
import os
from pathlib import Path

from workflows.instance import generated_secret
from workflows.signing import LicensedCA, SigningSettings

ROOT = Path(__file__).resolve().parent.parent


MAIL_SETTINGS = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME", "MAIL_PASSWORD",
                 "MAIL_DEFAULT_SENDER")
# a licensed CA to issue the deployment's certificates (README, "Plugging in a licensed CA")
SIGNING_CA_SETTINGS = ("SIGNING_CA_FILE", "SIGNING_CA_KEY_FILE", "SIGNING_CA_PASSWORD", "SIGNING_CA_CHAIN_FILE")
# request rate limits (webapp/limits.py), each "N per minute|hour" (several separated by ";"); the environment overrides
RATE_LIMITS = {
    "RATELIMIT_SIGN_IN": "30 per minute",  # sign-in form posts per address, staff and identity provider together
    "RATELIMIT_INTENT_SIGNER": "10 per hour",  # one-time code requests per signer, every page and API route together
    "RATELIMIT_INTENT_ADDRESS": "30 per hour",  # one-time code requests per address
    "RATELIMIT_VERIFY": "10 per minute",  # /verify uploads per address
    "RATELIMIT_TSA": "120 per minute",  # /tsa time-stamp requests per token (anonymous: per address)
    "RATELIMIT_API": "600 per minute",  # API requests per bearer token (or signed-in user; else per address)
}


def instance_path():
    return Path(os.environ.get("QIANYUE_INSTANCE", ROOT / "instance"))


def _instance_secret(setting, app_env, folder):
    """A key kept in the instance folder (``secret_key``, ``audit_key``) when its setting is not given; development
    creates that file once, production wants the setting or a file its operator put there."""
    path = folder / setting.lower()
    if not path.exists() and app_env == "production":
        raise RuntimeError(f"{setting} must be set when APP_ENV=production")
    return generated_secret(path, 48)


def _whole_number(name, value):
    if not (value.isascii() and value.isdigit()):
        raise RuntimeError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def _licensed_ca(settings):
    """The CA of ``SIGNING_CA_*``, loaded at startup: files that do not load, or a key that is not the certificate's,
    stop the app (``PKIError`` names the setting) rather than the first signature."""
    if not settings["SIGNING_CA_FILE"]:
        return None
    return LicensedCA.from_files(settings["SIGNING_CA_FILE"], settings["SIGNING_CA_KEY_FILE"] or None,
                                 settings["SIGNING_CA_PASSWORD"].encode() or None,
                                 settings["SIGNING_CA_CHAIN_FILE"] or None)


def load(overrides=None):
    """Settings from the environment, then ``overrides`` (tests pass theirs here)."""
    overrides = overrides or {}
    folder = Path(overrides.get("INSTANCE_PATH") or instance_path())
    app_env = os.environ.get("APP_ENV", "production")
    port = int(os.environ.get("PORT", "5000"))
    settings = {
        "APP_ENV": app_env,
        "INSTANCE_PATH": str(folder),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{folder / 'qianyue.db'}"),
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        # seals each contract's audit chain head (workflows/signing/audit.py): never in the database
        "AUDIT_KEY": os.environ.get("AUDIT_KEY"),
        "BASE_URL": os.environ.get("BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        # reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none, the peer is the
        # client); the client address in sign-in records and signature evidence depends on it
        "TRUSTED_PROXIES": _whole_number("TRUSTED_PROXIES", os.environ.get("TRUSTED_PROXIES", "0")),
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "WEBHOOK_URL": os.environ.get("WEBHOOK_URL", ""),  # contract.activated events (workflows/services/webhooks.py)
        "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET", ""),
        **{name: os.environ.get(name, "") for name in MAIL_SETTINGS},
        "STAFF_OIDC_PROVIDER": os.environ.get("STAFF_OIDC_PROVIDER", ""),
        "STAFF_ROLE_CLAIM": os.environ.get("STAFF_ROLE_CLAIM", ""),
    }
    settings.update(overrides)
    settings.setdefault("DEMO_DATA_ENABLED",
                        settings["APP_ENV"] != "production" or os.environ.get("DEMO_DATA_ENABLED") == "1")
    # customers' sign-in (webapp/oidc.py): the embedded identity provider is on in development, off in production
    # unless EMBEDDED_IDP=1; OIDC_PROVIDERS is a JSON list of further providers (README, Configuration)
    settings.setdefault("EMBEDDED_IDP", os.environ.get("EMBEDDED_IDP", "0" if settings["APP_ENV"] == "production" else "1") == "1")
    for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_PROVIDERS"):
        settings.setdefault(name, os.environ.get(name, ""))
    settings.setdefault("OIDC_SCOPES", os.environ.get("OIDC_SCOPES") or "openid email profile")
    for name in SIGNING_CA_SETTINGS:
        settings.setdefault(name, os.environ.get(name, ""))
    settings["SIGNING_CA"] = _licensed_ca(settings)
    # a job worker thread inside the web process (workflows/worker.py): `make run` sets RUN_WORKER=1 on its server
    # only; production runs `flask --app wsgi jobs run` beside the web nodes
    settings.setdefault("RUN_WORKER", os.environ.get("RUN_WORKER") == "1")
    # where the rate limits count: redis://host:6379/0 in production, shared by every process and node that names it;
    # memory:// (the default) counts per process, enough for `make run`
    settings.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("RATELIMIT_STORAGE_URI") or "memory://")
    settings.setdefault("RATELIMIT_ENABLED", os.environ.get("RATELIMIT_ENABLED", "1") == "1")
    settings.setdefault("RATELIMIT_KEY_PREFIX", os.environ.get("RATELIMIT_KEY_PREFIX") or "qianyue")
    for name, default in RATE_LIMITS.items():
        settings.setdefault(name, os.environ.get(name) or default)
    for setting in ("SECRET_KEY", "AUDIT_KEY"):
        if not settings[setting]:
            settings[setting] = _instance_secret(setting, settings["APP_ENV"], folder)
    return settings


def signing_settings(config):
    """The deployment's PKI settings (``SIGNING_KEY_PASSPHRASE`` is read when the PKI is first opened), a licensed CA,
    ``TSA_URL`` and the ``TSA_TOKEN`` it wants."""
    return SigningSettings(config["INSTANCE_PATH"], config["APP_ENV"], config.get("SIGNING_CA"),
                           config.get("TSA_URL") or os.environ.get("TSA_URL") or None,
                           config.get("TSA_TOKEN") or os.environ.get("TSA_TOKEN") or None)
