"""gunicorn settings for joingate: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Overridable through the environment: JOINGATE_BIND (default 127.0.0.1:8000, nginx in front),
JOINGATE_WORKERS (default CPUs + 1), JOINGATE_WORKER_CLASS (default sync), JOINGATE_THREADS,
PROMETHEUS_MULTIPROC_DIR (default a fresh folder under /tmp).

Measured on the 2-core benchmark machine (docs/benchmarks.md, claims of fresh links, 64
connections): sync x3 about 1,600-1,800 claims/s, sync x2 1,520, sync x4 1,430, sync x5 1,290,
gthread 2x4 1,550, gthread 3x2 1,580, gthread 1x8 610. A claim is one short Redis round trip, so
a sync worker never waits long; more workers than CPUs + 1 only add context switches. With the
lean front (fastgate.py), gthread 3x2 and 3x4 doubled the requests per second of both the bare
floor and the claims in four paired runs on a loaded machine (keep-alive), without moving their
ratio. On a quiet machine (docs/benchmarks.md, `bench/run.py --worker-class gthread`) gthread 3x4
was no better than sync (claims 1,106/s against 1,271, p99 148 ms against 75), and behind the
shipped nginx, whose upstream keeps connections alive (which gthread honours and sync does not),
wrk counted errors on claims: sync stays the default.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("JOINGATE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("JOINGATE_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("JOINGATE_WORKER_CLASS", "sync")
threads = int(os.environ.get("JOINGATE_THREADS", "1"))
timeout = 30                 # a worker stuck this long is killed and replaced
graceful_timeout = 20        # on HUP/TERM, in-flight requests get this long to finish
keepalive = 5                # nginx keeps upstream connections open
max_requests = 20000         # recycle workers now and then (bounded memory)
max_requests_jitter = 2000
limit_request_line = 8190
forwarded_allow_ips = "127.0.0.1,::1"

# No gunicorn access log: its path atoms would write link tokens. The app writes one JSON line
# per request with the request id and the link's id instead (joingate.observability).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("JOINGATE_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {    # python-json-logger's JsonFormatter, the same lines, cheaper
        "()": "joingate.observability.JsonLineFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}},
    # Any /j/<token> in a log line (a traceback, a library's message) is written as /j/-.
    "filters": {"redact": {"()": "joingate.observability.RedactingFilter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "filters": ["redact"], "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"],
                           "propagate": False},
    },
}

# Prometheus multiprocess mode: every worker writes its counts to this folder, /metrics adds
# them up. It must be set before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="joingate-metrics-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)   # counts of an earlier run would add up
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
