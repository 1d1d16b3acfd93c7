"""One-line errors for the benchmark scripts, never a traceback for a user-facing problem.

The scripts run from a fresh clone: a missing folder, a missing system tool or a helper
script that fails are the user's environment, not a bug, so each says what went wrong
in one line on stderr and exits 1. Imported by the scripts next to it (they run as
``python benchmarks/NAME.py``, which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def run_main(script: str, main: Callable[[], None]) -> None:
    """Run ``main``; environment errors become ``SCRIPT: error: ...`` and exit 1."""
    from rhythm.errors import RhythmError

    try:
        main()
    except RhythmError as err:  # database unreachable, bad URL: already one line
        fail(script, str(err))
    except subprocess.CalledProcessError as err:
        command = " ".join(str(part) for part in err.cmd)
        detail = (err.stderr or "").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        fail(script, f"{command} failed (exit {err.returncode}){tail}")
    except FileNotFoundError as err:
        fail(script, f"{err.filename or err}: not found")
    except OSError as err:
        fail(script, str(err))
    except KeyboardInterrupt:
        fail(script, "interrupted")


def fail(script: str, message: str) -> None:
    print(f"{script}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def scratch_folder(path: str | Path) -> Path:
    """The scratch folder, created (with its parents) if it does not exist yet."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_file(path: Path, what: str) -> Path:
    """``path`` if it exists, else a one-line error naming what it is."""
    if not path.exists():
        raise FileNotFoundError(2, f"{what} not found", f"{path} ({what})")
    return path
