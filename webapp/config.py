"""Flask's config from the deployment's settings (``workflows.settings``, the one reader of the environment)."""
from pathlib import Path

from pydantic import SecretStr

from workflows.settings import Settings

MAX_CONTENT_LENGTH = 4 * 1024 * 1024
FLASK_NAMES = {"QIANYUE_INSTANCE": "INSTANCE_PATH"}  # a setting that Flask's config calls otherwise


def settings(overrides=None):
    """The settings from the environment and ``overrides`` (what tests pass to ``create_app``): the overrides that
    name a setting are checked like the environment; SettingsError names every problem."""
    setting = {flask: name for name, flask in FLASK_NAMES.items()}
    given = {setting.get(name, name): value for name, value in (overrides or {}).items()}
    return Settings.load({name: value for name, value in given.items() if name in Settings.model_fields})


def flask_config(settings, overrides=None):
    """Every setting under its name (secrets as plain text), then the overrides that are Flask's own (``TESTING``)."""
    config = {FLASK_NAMES.get(name, name): _plain(getattr(settings, name)) for name in Settings.model_fields}
    config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    config.update({name: value for name, value in (overrides or {}).items() if name not in config})
    return config


def load(overrides=None):
    """Flask's config from the environment and ``overrides``."""
    return flask_config(settings(overrides), overrides)


def _plain(value):
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value) if isinstance(value, Path) else value
