"""Running the Postgres binaries that the ``pgserver`` package ships, as the right user.

Postgres refuses to run as root. When Rhythm runs as root, the embedded server runs as
the owner of an existing data folder or, for a new one, as an unprivileged system user
(``embedded_user``, created with ``useradd --system`` on first use). This module owns
finding the binaries, choosing and creating that user, letting it reach the folders it
needs, and running a binary with a one-line error when it fails.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rhythm.config import Settings
from rhythm.errors import EmbeddedPostgresError

REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a root process uses to run Postgres."""

    name: str
    uid: int
    gid: int


def find_bin_dir(settings: Settings) -> Path:
    """The folder holding initdb/pg_ctl/postgres, or a one-line error saying what to do."""
    if settings.postgres_bin is not None:
        bin_dir, origin = settings.postgres_bin, "RHYTHM_POSTGRES_BIN"
    else:
        # find_spec does not run pgserver's __init__ (which has side effects of its own).
        spec = importlib.util.find_spec("pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedPostgresError(
                "the embedded Postgres needs the 'pgserver' package: run `pip install pgserver`,"
                " or set RHYTHM_DATABASE_URL to use another Postgres"
            )
        bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        origin = "the pgserver package"
    missing = [name for name in REQUIRED_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise EmbeddedPostgresError(
            f"Postgres binaries missing from {bin_dir} ({origin}): {', '.join(missing)};"
            " reinstall pgserver, or set RHYTHM_DATABASE_URL to use another Postgres"
        )
    return bin_dir


def choose_run_as(settings: Settings, data_dir: Path) -> RunAs | None:
    """Who runs Postgres: ``None`` (this process) unless we are root."""
    if os.geteuid() != 0:
        return None
    if data_dir.exists():
        owner = data_dir.stat().st_uid
        if owner != 0:
            return _account(pwd.getpwuid(owner))
    return ensure_system_user(settings.embedded_user)


def ensure_system_user(name: str) -> RunAs:
    """Return the system account ``name``, creating it (no login, no home) if needed."""
    try:
        return _account(pwd.getpwnam(name))
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--no-create-home",
               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise EmbeddedPostgresError(
            f"running as root, the embedded Postgres needs an unprivileged user '{name}' but"
            " `useradd` is not available: create the user yourself or run Rhythm as a normal user"
        ) from None
    try:  # exit 9 means another process created it at the same moment: fine.
        return _account(pwd.getpwnam(name))
    except KeyError:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise EmbeddedPostgresError(
            f"cannot create system user '{name}' for the embedded Postgres: {reason}"
        ) from None


def _account(entry: pwd.struct_passwd) -> RunAs:
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def give_to(path: Path, run_as: RunAs | None) -> None:
    """Make ``path`` (a file or folder we just created) belong to the server's user."""
    if run_as is not None:
        os.chown(path, run_as.uid, run_as.gid)


def grant_traverse(path: Path, run_as: RunAs | None) -> None:
    """Let ``run_as`` walk down to ``path``, adding only the search (x) bit where missing.

    Root-owned folders such as ``/root`` are often 0700; without search permission the
    unprivileged server could not reach its own data. Nothing is made readable.
    """
    if run_as is None:
        return
    for folder in reversed([path, *path.parents]):
        info = folder.stat()
        if not _can_search(info, run_as):
            os.chmod(folder, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


def _can_search(info: os.stat_result, run_as: RunAs) -> bool:
    if info.st_uid == run_as.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == run_as.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def run_binary(
    bin_dir: Path, name: str, args: list[str], run_as: RunAs | None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run one Postgres program; its output is captured and returned, never shown."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"  # stable, English messages that we can quote in errors
    if run_as is not None:
        env.update(HOME="/", USER=run_as.name, LOGNAME=run_as.name)
    try:
        return subprocess.run(
            [str(bin_dir / name), *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            cwd="/",
            start_new_session=True,  # Ctrl-C in the caller's terminal must not stop the server
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
    except subprocess.TimeoutExpired:
        raise EmbeddedPostgresError(f"{name} did not finish within {timeout:.0f}s") from None
    except OSError as err:
        raise EmbeddedPostgresError(f"cannot run {bin_dir / name}: {err.strerror}") from err


def last_line(text: str) -> str:
    """The last non-empty line of a program's output (the one that says what went wrong)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
