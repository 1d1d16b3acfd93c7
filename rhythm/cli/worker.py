"""`rhythm worker`: run a worker process on one or more queues.

Task modules named with ``-m`` are imported (registering their ``@rhythm.task``
functions) before the worker starts; the current directory is on the import path.
SIGTERM or Ctrl-C stops claiming and lets in-flight tasks finish (a second one hands
them back at once). Workflow versions come from ``generated/`` (``rhythm build`` output,
if the folder exists) and from ``--flows DIR`` (compiled at start); all are registered.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from typing import Any

import click

from rhythm.cli._observe import (
    build_telemetry,
    configure_logs,
    log_format_option,
    telemetry_options,
)
from rhythm.cli._options import with_settings
from rhythm.config import Settings
from rhythm.errors import ConfigError


@click.command("worker")
@click.option("-q", "--queue", "queues", multiple=True, metavar="QUEUE",
              help="Queue to serve (repeatable; default: 'default').")
@click.option("-m", "--module", "modules", multiple=True, metavar="MODULE",
              help="Python module defining @rhythm.task functions (repeatable).")
@click.option("--flows", type=click.Path(file_okay=False), default=None,
              help="Folder of .flow files whose versions this worker registers.")
@click.option("--generated", type=click.Path(file_okay=False), default="generated",
              show_default=True, help="Folder of `rhythm build` output to load, if present.")
@click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="Tasks (and workflow activations) running at the same time; threads "
                   "for sync tasks.")
@click.option("--lease", "lease_seconds", type=click.FloatRange(min=1), default=30.0,
              show_default=True, help="Seconds before a dead worker's executions are re-run.")
@click.option("--poll", "poll_interval", type=click.FloatRange(min=0.05), default=5.0,
              show_default=True, help="Backstop poll (seconds) when no NOTIFY arrives.")
@click.option("--grace", "shutdown_grace", type=click.FloatRange(min=0), default=30.0,
              show_default=True, help="Seconds in-flight tasks may finish on shutdown.")
@click.option("--cleanup-interval", "cleanup_interval", default=None, metavar="DURATION",
              help="How often this worker's cleaner deletes ended executions past their "
                   "retention (e.g. 5m, 90s).  [default: [retention] cleanup_interval, "
                   "else 5m]")
@click.option("--no-cleanup", "no_cleanup", is_flag=True,
              help="Run no cleaner in this worker (others, or `rhythm cleanup`, do it).")
@click.option("--history-snapshot-cap", "history_snapshot_cap", type=click.IntRange(min=0),
              default=64 * 1024, show_default=True, metavar="BYTES",
              help="Largest snapshot (bytes of JSON) a history entry keeps; a larger one "
                   "keeps only its size (docs/observability.md).")
@telemetry_options
@log_format_option
@with_settings
def worker_command(
    settings: Settings, queues: tuple[str, ...], modules: tuple[str, ...], flows: str | None,
    generated: str, concurrency: int, lease_seconds: float, poll_interval: float,
    shutdown_grace: float, cleanup_interval: str | None, no_cleanup: bool,
    history_snapshot_cap: int,
    log_format: str, otel: bool, metrics_port: int | None, metrics_host: str,
    metrics_interval: float,
) -> None:
    """Run a worker: claim tasks and workflow activations from QUEUEs and run them."""
    retention, interval = _cleanup_settings(settings, cleanup_interval, no_cleanup)
    configure_logs(log_format)
    _import_task_modules(modules)
    telemetry = build_telemetry(otel, metrics_port, metrics_host, metrics_interval, log_format)
    from rhythm.runtime.tasks import REGISTRY
    from rhythm.runtime.versions import WorkflowVersions
    from rhythm.runtime.worker import Worker, freeze_startup_heap
    from rhythm.store import database_url

    versions = WorkflowVersions()
    versions.add_generated(generated)
    if flows is not None:
        versions.add_folder(flows)
    if not REGISTRY.names() and not versions.local:
        click.echo("rhythm: warning: no tasks (-m MODULE) or workflows (--flows DIR)", err=True)
    worker = Worker(
        database_url(settings), versions=versions, queues=queues or ("default",),
        concurrency=concurrency,
        lease_seconds=lease_seconds, poll_interval=poll_interval, shutdown_grace=shutdown_grace,
        retention=retention, cleanup_interval=interval,
        history_snapshot_cap=history_snapshot_cap, telemetry=telemetry,
    )
    freeze_startup_heap()
    worker.run_forever()
    _exit_despite_stuck_threads()


def _cleanup_settings(settings: Settings, interval: str | None, off: bool) -> tuple[Any, Any]:
    """The retention defaults and the cleaner's interval (None: off) from the options
    and the project file's [retention] table; a bad value is one line naming it."""
    from rhythm.config import read_retention_table
    from rhythm.lifecycle.retention import (
        DEFAULT_INTERVAL_S,
        Retention,
        parse_interval,
        with_defaults,
    )

    table, label = read_retention_table(settings.project_dir)
    try:
        retention = with_defaults(Retention(), table.get("tasks"), table.get("workflows"))
        seconds = (parse_interval(table["cleanup_interval"], "retention.cleanup_interval")
                   if "cleanup_interval" in table else DEFAULT_INTERVAL_S)
    except ValueError as err:
        raise ConfigError(f"{label}: {err}") from None
    if interval is not None:
        try:
            seconds = parse_interval(interval, "--cleanup-interval")
        except ValueError as err:
            raise click.BadParameter(str(err).removeprefix("--cleanup-interval "),
                                     param_hint="'--cleanup-interval'") from None
    return retention, None if off else seconds


def _import_task_modules(modules: tuple[str, ...]) -> None:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # any import-time failure is the user's module
            raise click.UsageError(f"cannot import task module {name!r}: {err}") from err


def _exit_despite_stuck_threads() -> None:
    """A sync task that ignored its timeout may still be running in a thread; its result
    is discarded anyway, so do not let it hold the process open."""
    if any(t.name.startswith("rhythm-task") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


COMMANDS = [worker_command]
