"""`rhythm run FLOW [--inputs JSON] [--mocks FILE] [--json]`: one workflow, in memory.

A thin layer over :func:`rhythm.testing.run_flow` (imported lazily so that ``rhythm
--help`` stays fast). Exit codes (docs/cli.md): 0 completed; 1 failed, suspended for ever,
or compile errors; 2 bad ``--inputs``/``--mocks``/FLOW.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rhythm.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from rhythm.testing import RunResult


@click.command("run")
@click.argument("flow", metavar="FLOW")
@click.option("--inputs", "inputs_text", metavar="JSON", help="Inputs as a JSON object.")
@click.option(
    "--mocks",
    "mocks_path",
    metavar="FILE",
    help="JSON file of task replies and signals (see docs/testing.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run_command(flow: str, inputs_text: str | None, mocks_path: str | None, as_json: bool) -> None:
    """Run one workflow in memory: mocked tasks, instant timers, no database.

    Child workflows are the .flow files next to FLOW. console.log lines go to stderr.
    """
    from rhythm.testing import run_flow

    result = run_flow(Path(flow), _parse_inputs(inputs_text), mocks_path, echo_logs=True)
    for trace in result.internal_errors:
        click.echo(trace, err=True, nl=False)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_readable(result, flow)
    code = EXIT_OK if result.status == "completed" else EXIT_FAILED
    if code != EXIT_OK:
        sys.exit(code)


def _parse_inputs(text: str | None) -> dict[str, Any]:
    from rhythm.engine.mocks import RunInputError

    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise RunInputError(f"--inputs is not valid JSON: {err}") from err
    except RecursionError as err:
        raise RunInputError("--inputs is nested too deeply") from err
    if not isinstance(value, dict):
        raise RunInputError(f"--inputs must be a JSON object, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _print_readable(result: RunResult, flow: str) -> None:
    if result.status == "compile_error":
        for e in result.errors:
            click.echo(f"{flow}:{e['line']}:{e['column']}: {e['message']}", err=True)
        return
    clock = _duration(result.virtual_ms)
    click.echo(f"{result.status} ({result.activations} activations, {clock} of virtual time)")
    if result.status == "completed":
        click.echo(f"result: {_compact(result.result)}")
    elif result.status == "failed":
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
