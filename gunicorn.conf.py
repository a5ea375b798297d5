"""gunicorn's settings for `make serve` (scripts/serve), from the deployment's settings (README, "Deploying").

Threads in a few processes: a request mostly waits on PostgreSQL, and each process keeps its own connection pool and
opened PKI. Jobs never run here: `flask jobs run` runs them beside the web processes. Each request is logged once, by
the app (webapp/request_log.py, with its id): gunicorn keeps no access log of its own, and its messages go through
the app's log handler (JSON in production).
"""
import multiprocessing

from webapp.warmup import compile_templates
from workflows.logs import gunicorn_config
from workflows.settings import Settings, SettingsError

try:
    settings = Settings.load()
except SettingsError as exc:
    raise SystemExit(str(exc)) from None

bind = settings.BIND or f"127.0.0.1:{settings.PORT}"
workers = settings.WEB_CONCURRENCY or multiprocessing.cpu_count() + 1
worker_class = "gthread"
# a request spends most of its time waiting for PostgreSQL (and Redis); bench/load.py with 50 clients answered about
# twice as many requests a second with 12 threads a process as with 4 (with equal CPU per request)
threads = settings.WEB_THREADS
timeout = 60  # a signing act is about half a second; one that takes a minute is stuck
graceful_timeout = 30
keepalive = 5
max_requests, max_requests_jitter = 5000, 500  # recycle a process now and then: a slow leak never becomes an outage
logconfig_dict = gunicorn_config(settings.LOG_FORMAT, settings.LOG_LEVEL)


def post_worker_init(worker):
    """Each web process compiles the page templates before it takes a request (webapp/warmup.py)."""
    compile_templates(worker.wsgi)
