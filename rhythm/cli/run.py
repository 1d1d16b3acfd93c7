"""`rhythm run FLOW [--inputs JSON] [--mocks FILE] [--json]`: one workflow, in memory.

A thin layer over :func:`rhythm.testing.run_flow` (imported lazily so that ``rhythm
--help`` stays fast). Exit codes (docs/cli.md): 0 completed; 1 failed, cancelled,
suspended for ever, or compile errors; 2 bad ``--inputs``/``--mocks``/FLOW.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rhythm.cli._inputs import HELP, json_value
from rhythm.errors import EXIT_FAILED, EXIT_OK, closest

if TYPE_CHECKING:
    from rhythm.testing import RunResult


@click.command("run")
@click.argument("flow", metavar="FLOW")
@click.option("--inputs", "inputs_text", metavar="JSON",
              help=f"Inputs as a JSON object ({HELP}).")
@click.option(
    "--mocks",
    "mocks_path",
    metavar="FILE",
    help="JSON file of task replies and signals (see docs/testing.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--history", "with_history", is_flag=True,
              help="Also print the workflow's history, as `rhythm history` shows it.")
def run_command(flow: str, inputs_text: str | None, mocks_path: str | None, as_json: bool,
                with_history: bool) -> None:
    """Run one workflow in memory: mocked tasks, instant timers, no database.

    Child workflows are the .flow files next to FLOW. console.log lines go to stderr.
    """
    from rhythm.testing import run_flow

    inputs = json_value(inputs_text, "--inputs", want_object=True)
    result = run_flow(_existing_flow(flow), inputs if inputs is not None else {}, mocks_path,
                      echo_logs=True)
    for trace in result.internal_errors:
        click.echo(trace, err=True, nl=False)
    if as_json:
        click.echo(json.dumps(result.to_json(with_history), ensure_ascii=False))
    else:
        _print_readable(result, flow)
        if with_history and result.status != "compile_error":
            _print_history(result)
    code = EXIT_OK if result.status == "completed" else EXIT_FAILED
    if code != EXIT_OK:
        sys.exit(code)


def _print_history(result: RunResult) -> None:
    from rhythm.observe.entries import HistoryEntry
    from rhythm.observe.timeline import timeline

    click.echo("history:")
    for line in timeline([HistoryEntry.from_json(e) for e in result.history]):
        click.echo(f"  {line}")


def _existing_flow(flow: str) -> Path:
    """FLOW as a path; a missing one is bad usage, with the closest .flow file nearby."""
    from rhythm.engine.mocks import RunInputError

    path = Path(flow)
    if path.is_file():
        return path
    near = [path.parent, path.parent / "workflows"]
    by_stem = {found.stem: str(found) for folder in reversed(near) if folder.is_dir()
               for found in sorted(folder.glob("*.flow"))}  # (a file next to FLOW wins)
    match = closest(path.stem, by_stem)
    hint = f"; did you mean '{by_stem[match]}'?" if match else ""
    raise RunInputError(f"{flow}: no such .flow file{hint}")


def _print_readable(result: RunResult, flow: str) -> None:
    if result.status == "compile_error":
        for e in result.errors:
            click.echo(f"{flow}:{e['line']}:{e['column']}: {e['message']}", err=True)
        return
    clock = _duration(result.virtual_ms)
    click.echo(f"{result.status} ({result.activations} activations, {clock} of virtual time)")
    if result.status == "completed":
        click.echo(f"result: {_compact(result.result)}")
    elif result.status in ("failed", "cancelled"):
        if result.status == "cancelled" and result.result is not None:
            click.echo(f"result: {_compact(result.result)}")  # it caught the cancellation
        click.echo(f"error: {_compact(result.error)}")
    else:
        click.echo(f"waiting: {result.waiting_for}")
    click.echo(f"calls: {len(result.calls) or 'none'}")
    for call in result.calls:
        click.echo(f"  {call['kind']} {call['name']} {_compact(call['inputs'])}")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _duration(ms: int) -> str:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) + (f"{ms}ms" if ms or not parts else "")


COMMANDS = [run_command]
