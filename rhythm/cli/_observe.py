"""Options of long-running commands for looking inside them (docs/observability.md):
``--log-format`` (every long-running command: :func:`log_format_option`) and the
worker's ``--otel``, ``--metrics-port``, ``--metrics-host``, ``--metrics-interval``
(:func:`telemetry_options`, :func:`build_telemetry`).

OpenTelemetry and prometheus_client are optional (extras ``rhythm[otel]`` and
``rhythm[metrics]``): asked for without them installed, one line says which to install.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import click

from rhythm.errors import ConfigError
from rhythm.observe.telemetry import NO_TELEMETRY, Telemetry


def log_format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--log-format text|json``: passed to the command as ``log_format``."""
    return click.option(
        "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="Log lines as text, or one JSON object per line (time, level, message, logger, "
             "execution_id, workflow or task, attempt).")(command)


def configure_logs(log_format: str) -> None:
    from rhythm.observe.logs import configure

    configure(log_format)


def telemetry_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The worker's tracing and metrics options."""
    for option in reversed([
        click.option("--otel", is_flag=True,
                     help="Trace activations and task attempts and record metrics with "
                          "OpenTelemetry (needs rhythm[otel]; the SDK and exporter are "
                          "configured by your code, e.g. a -m module)."),
        click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
                     metavar="PORT",
                     help="Serve Prometheus metrics on http://HOST:PORT/metrics (needs "
                          "rhythm[metrics])."),
        click.option("--metrics-host", default="0.0.0.0", show_default=True, metavar="HOST",
                     help="Address the Prometheus endpoint listens on."),
        click.option("--metrics-interval", type=click.FloatRange(min=0.1), default=15.0,
                     show_default=True, metavar="SECONDS",
                     help="How often queue depth, oldest pending age and live workers are "
                          "read (one query)."),
    ]):
        command = option(command)
    return command


def _require(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs the {module} package: pip install 'rhythm[{extra}]'")


def build_telemetry(otel: bool, metrics_port: int | None, metrics_host: str,
                    metrics_interval: float, log_format: str) -> Telemetry:
    """The worker's telemetry for these options (NO_TELEMETRY when all are off); its
    Prometheus endpoint already listening."""
    if not otel and metrics_port is None and log_format != "json":
        return NO_TELEMETRY
    if otel:
        _require("opentelemetry", "otel", "--otel")
    if metrics_port is not None:
        _require("prometheus_client", "metrics", "--metrics-port")
    from rhythm.observe.observing import Observing

    tracing = metrics = None
    otel_metrics = False
    if otel:
        from rhythm.observe.metrics import meter_provider_configured
        from rhythm.observe.tracing import Tracing

        tracing = Tracing()
        # OpenTelemetry metrics only for a MeterProvider the application set before now
        # (in a -m module): without one the API's instruments record nothing, at a few
        # µs a call, eight calls a workflow step.
        otel_metrics = meter_provider_configured()
        if not otel_metrics:
            logging.getLogger("rhythm.telemetry").info(
                "--otel: no OpenTelemetry MeterProvider is configured, so no OpenTelemetry "
                "metrics are recorded (spans are)")
    if otel_metrics or metrics_port is not None:
        from rhythm.observe.metrics import Metrics

        metrics = Metrics(otel=otel_metrics, prometheus=metrics_port is not None)
    telemetry = Observing(tracing, metrics, log_fields=log_format == "json",
                          metrics_port=metrics_port,
                          metrics_host=metrics_host, poll_interval=metrics_interval)
    try:
        telemetry.serve()
    except OSError as err:
        raise ConfigError(f"cannot serve metrics on {metrics_host}:{metrics_port}: "
                          f"{err.strerror or err}") from None
    return telemetry
