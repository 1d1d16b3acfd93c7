"""`rhythm lsp` on the command line: help, and one line when the lsp extra is missing."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from rhythm.cli import main


def test_help_names_the_command() -> None:
    result = CliRunner().invoke(main, ["lsp", "--help"])
    assert result.exit_code == 0
    assert "language server" in result.output and "--stdio" in result.output


def test_without_the_extra_it_says_so_in_one_line() -> None:
    # A fresh interpreter in which pygls cannot be imported.
    probe = (
        "import sys; sys.modules['pygls'] = None; sys.argv = ['rhythm', 'lsp']\n"
        "from rhythm.cli import main; main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "rhythm: error: rhythm lsp needs the lsp extra: pip install 'rhythm[lsp]' "
        "(pygls is missing)"
    ]
