"""Commands that operate on one execution: start, signal, status (list, cancel and retry:
:mod:`rhythm.cli.bulk`).

Thin wrappers over :class:`rhythm.Client`. JSON flags are read by
:func:`rhythm.cli._inputs.json_value` (one-line errors, exit 2); a workflow that fails
makes ``start --wait`` exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from rhythm.cli._inputs import HELP, json_value
from rhythm.cli._options import client_for, json_option, warnings_on_stderr, with_settings
from rhythm.config import Settings
from rhythm.errors import EXIT_FAILED, RhythmError


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _with_reason(row: dict[str, Any], unserved: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """The row with ``reason``: why a pending execution does not run yet (or None);
    ``unserved``: the task names no live worker has, with why (:func:`_unserved`)."""
    from rhythm.runtime.operations import UNREGISTERED, waiting_reason

    reason = waiting_reason(row)
    why = (unserved or {}).get(row.get("name") or "")
    if reason is None and row.get("kind") == "task" and row.get("status") == "pending" \
            and why is not None:
        name = row["name"]
        reason = (f"no worker has task {name!r}: none has registered it" if why == UNREGISTERED
                  else f"no live worker has task {name!r}: every worker that registered it"
                  " has stopped") + " (a worker that has it will claim it)"
    return {**row, "reason": reason}


def _unserved(client: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    """The names of the pending tasks among ``rows`` that no live worker has (routing),
    each with why."""
    names = {r["name"] for r in rows if (r.get("kind"), r.get("status")) == ("task", "pending")}
    unserved: dict[str, str] = client.unserved_tasks(names) if names else {}
    return unserved


def _row_json(row: dict[str, Any]) -> str:
    """A row as JSON: its own fields sorted, payloads inside in their own key order.

    (``sort_keys`` would also sort inputs and results, whose order the language keeps.)"""
    return json.dumps(dict(sorted(row.items())))


@click.command("start")
@click.argument("name")
@click.option("--inputs", default=None, metavar="JSON", help=f"Inputs object ({HELP}).")
@click.option("--id", "execution_id", default=None, help="Idempotency id of the execution.")
@click.option("--queue", default=None, help="Queue of its activations.  [default: default]")
@click.option("--priority", type=int, default=0, show_default=True,
              help="Higher is claimed first within a queue.")
@click.option("--wait", is_flag=True, help="Wait for the result.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="With --wait: give up after this many seconds.")
@with_settings
@json_option
def start_command(settings: Settings, name: str, inputs: str | None, execution_id: str | None,
                  queue: str | None, priority: int, wait: bool, timeout: float | None,
                  as_json: bool) -> None:
    """Start workflow NAME on its current version (idempotent with --id).

    A NAME with no registered version yet is accepted with a warning: it waits, pending,
    until `rhythm register` or a worker that has it registers a version.
    """
    data = json_value(inputs, "--inputs", want_object=True)
    with warnings_on_stderr(), client_for(settings) as client:
        run = client.start(name, data, id=execution_id, queue=queue, priority=priority)
        if not wait:
            row = _jsonable(client.get(run.id))
            _print_started(row, as_json)
            return
        try:
            client.wait(run.id, timeout=timeout)
        except TimeoutError as err:
            raise RhythmError(f"{err}; it goes on running (see `rhythm status {run.id}`)") from err
        row = _jsonable(client.get(run.id))
    _print_outcome(row, as_json)
    if row["status"] != "completed":
        raise SystemExit(EXIT_FAILED)


def _print_started(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"id": row["id"], "status": row["status"]}, sort_keys=True))
    else:
        click.echo(f"{row['id']}: workflow {row['name']} {row['status']}")


def _print_outcome(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(_row_json({k: row[k] for k in ("id", "status", "result", "error")}))
        return
    click.echo(f"{row['id']}: {row['status']}")
    if row["status"] == "completed":
        click.echo(f"result: {json.dumps(row['result'])}")
    else:
        click.echo(f"error: {json.dumps(row['error'])}")


@click.command("signal")
@click.argument("execution_id", metavar="ID")
@click.argument("name")
@click.option("--payload", default=None, metavar="JSON", help=f"Signal payload ({HELP}).")
@with_settings
@json_option
def signal_command(settings: Settings, execution_id: str, name: str, payload: str | None,
                   as_json: bool) -> None:
    """Send signal NAME to workflow execution ID (refused once it has ended)."""
    data = json_value(payload, "--payload")
    with client_for(settings) as client:
        sent = client.signal(execution_id, name, data)
    if as_json:
        click.echo(json.dumps({"id": execution_id, "signal": name, **sent}, sort_keys=True))
    else:
        where = "delivered" if sent["delivered_to"] is not None else "buffered"
        click.echo(f"{execution_id}: signal {name!r} {where}")


@click.command("status")
@click.argument("execution_id", metavar="ID")
@with_settings
@json_option
def status_command(settings: Settings, execution_id: str, as_json: bool) -> None:
    """Show execution ID (status, result or error, attempts)."""
    with client_for(settings) as client:
        row = _jsonable(client.get(execution_id))
        row = _with_reason(row, _unserved(client, [row]))
    if as_json:
        click.echo(_row_json(row))
        return
    click.echo(f"{row['id']}: {row['kind']} {row['name']} {row['status']} "
               f"(attempt {row['attempt']}, run {row['run_no']})")
    if row.get("idempotency_key") is not None:
        click.echo(f"idempotency key: {row['idempotency_key']}")
    if row.get("concurrency_key") is not None:
        click.echo(f"concurrency key: {row['concurrency_key']}"
                   f" (limit {row['concurrency_limit']})")
    if row["reason"] is not None:
        click.echo(f"reason: {row['reason']}")
    if row["result"] is not None:
        click.echo(f"result: {json.dumps(row['result'])}")
    if row["error"] is not None:
        error = row["error"]
        kind = error.get("type") or error.get("name") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else json.dumps(error)
        click.echo(f"error: {kind}: {message}" if kind else f"error: {message}")


COMMANDS = [start_command, signal_command, status_command]
