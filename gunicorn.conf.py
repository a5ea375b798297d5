"""gunicorn's settings for `make serve` (scripts/serve), from the environment (README, "Deploying").

Threads in a few processes: a request mostly waits on PostgreSQL, and each process keeps its own connection pool and
opened PKI. Jobs never run here: `flask jobs run` runs them beside the web processes.
"""
import multiprocessing
import os

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = "gthread"
# a request spends most of its time waiting for PostgreSQL (and Redis); bench/load.py with 50 clients answered about
# twice as many requests a second with 12 threads a process as with 4 (with equal CPU per request)
threads = int(os.environ.get("WEB_THREADS") or 12)
timeout = 60  # a signing act is about half a second; one that takes a minute is stuck
graceful_timeout = 30
keepalive = 5
max_requests, max_requests_jitter = 5000, 500  # recycle a process now and then: a slow leak never becomes an outage
accesslog = "-"
errorlog = "-"
