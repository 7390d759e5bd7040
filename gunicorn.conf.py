"""gunicorn's settings for fieldsvc, read from the working directory: `gunicorn wsgi:app`
in the install directory runs the production server as recommended. Flags on the command
line win over this file (e.g. `--bind 0.0.0.0:8000 --workers 4`).

- workers: WEB_CONCURRENCY, else two per core and one more (sync workers: a request has
  a process to itself; a proposal PDF keeps one busy for about a second).
- max_requests with jitter: each worker is replaced after about 1,000 requests, the
  replacements spread out so they never restart together. PDF rendering keeps its memory
  flat on its own now (one font configuration per process); this bounds whatever any
  library still keeps.
- timeout 60 s: a proposal with many photos renders in a few seconds on a busy server;
  a worker stuck longer is killed and replaced.
- no access log: the app logs one line per request itself, with its request id, user and
  route (FIELDSVC_LOG_FORMAT=json for a log collector), and never the path.
- Prometheus: every worker writes its figures under PROMETHEUS_MULTIPROC_DIR (a fresh
  temporary folder unless set), so /metrics sums all workers whichever one answers.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from dotenv import load_dotenv

# The installation's settings file, as the app reads it (fieldsvc/installation.py), so
# FIELDSVC_BIND and the rest may live there too; read here without importing the app,
# which must not load prometheus_client before its folder is chosen below.
_settings_file = os.environ.get("FIELDSVC_ENV_FILE", str(Path(__file__).with_name("fieldsvc.env")))
if _settings_file:
    load_dotenv(_settings_file, override=False, encoding="utf-8")

bind = os.environ.get("FIELDSVC_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
max_requests = 1000
max_requests_jitter = 100
timeout = 60
graceful_timeout = 30
accesslog = None

# Set before anything imports prometheus_client: it picks its multi-process mode when
# imported, and the workers forked from here inherit the variable.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fieldsvc-metrics-")

_production = os.environ.get("FIELDSVC_ENV", "development") == "production"
if os.environ.get("FIELDSVC_LOG_FORMAT", "json" if _production else "text") == "json":
    # gunicorn's own messages (workers booting, timing out) as JSON lines too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        # The root logger's handler is the app's own (fieldsvc/ops/logs.py), added when
        # each worker starts the app: one here too would print every line twice.
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}
        },
    }


def on_starting(server) -> None:
    """Figures left by an earlier run would be added to this one's: start empty."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
