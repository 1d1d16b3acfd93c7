"""``rhythm ui``: serve the dashboard (docs/ui.md).

A thin click command over :mod:`rhythm.ui`: it checks the bind (a non-loopback address
needs ``--token``), makes a token when none is given on loopback (printed in the link to
open), and runs uvicorn. The web stack is the ``rhythm[ui]`` extra, imported only here;
without it the command says which extra to install.
"""

from __future__ import annotations

import secrets
import socket

import click

from rhythm.cli._observe import configure_logs, log_format_option
from rhythm.cli._options import with_settings
from rhythm.config import Settings
from rhythm.errors import ConfigError

MISSING_EXTRA = ("rhythm ui needs the web stack of the 'ui' extra: "
                 "pip install 'rhythm[ui]' ({missing} is not installed)")


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--read-only", is_flag=True,
              help="Show everything, change nothing: no action is offered or accepted.")
@click.option("--token", envvar="RHYTHM_UI_TOKEN", default=None, metavar="T",
              help="Token every request must carry (also RHYTHM_UI_TOKEN); made up and "
                   "printed in the link when not given on loopback.")
@log_format_option
@with_settings
def ui_command(settings: Settings, host: str, port: int, read_only: bool,
               token: str | None, log_format: str) -> None:
    """Serve the dashboard: executions, queues, workers and schedules, in a browser."""
    try:
        import uvicorn

        from rhythm.ui.app import create_app
        from rhythm.ui.security import Guard, is_loopback
        from rhythm.ui.store import Store
    except ImportError as err:
        raise ConfigError(MISSING_EXTRA.format(missing=err.name or "a package")) from None
    from rhythm.store import database_url

    loopback = is_loopback(host)
    if not loopback and not token:
        raise click.UsageError(f"--host {host} is not a loopback address: give --token "
                               "(or RHYTHM_UI_TOKEN) so that only you can use it")
    if token is not None and len(token) < 16:
        raise click.BadParameter("use at least 16 characters", param_hint="'--token'")
    made_up = token is None
    token = token or secrets.token_urlsafe(24)
    store = Store(database_url(settings))
    store.topology()  # (an unreachable database fails here, in one line, not per page)
    app = create_app(store, Guard(token=token, read_only=read_only, loopback=loopback))
    try:
        sock = _bind(host, port)
    except OSError as err:
        store.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    shown = f"[{host}]" if ":" in host else host
    link = f"http://{shown}:{sock.getsockname()[1]}/executions"
    link += f"?token={token}" if made_up else ""
    click.echo(f"rhythm ui: serving on {link}" + (" (read-only)" if read_only else ""))
    configure_logs(log_format)  # (uvicorn's loggers, access log included, go to it)
    config = uvicorn.Config(app, log_config=None, access_log=True, server_header=False,
                            lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.close()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket (made here, so that ``--port 0`` prints the port it got
    and the link printed answers at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # (connections wait in the backlog until the server starts)
    except OSError:
        sock.close()
        raise
    return sock

COMMANDS = [ui_command]
