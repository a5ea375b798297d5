"""Entry point for ``flask --app wsgi`` and WSGI servers. Settings that would not make a working deployment stop the
process here, every problem named, rather than with a traceback."""
from webapp import create_app
from workflows.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    raise SystemExit(str(exc)) from None
