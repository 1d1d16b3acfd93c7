"""The README's Quick start is what CI runs: exactly two commands, extracted by .ci/run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)\n```", section, re.DOTALL)
    assert block, "the Quick start needs a ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_two_commands_install_then_test() -> None:
    main_job, tests = _quick_start_commands()
    # The main job installs Rhythm and runs it: the order example, end to end.
    assert "pip install" in main_job and ("rhythm" in main_job or "examples/" in main_job)
    assert "pip install" in tests and "pytest" in tests


def test_ci_extracts_the_same_commands() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script
    # Run only the extraction part of the script and compare.
    extraction = script.split("for command in", 1)[0] + 'printf "%s\\n" "${commands[@]}"\n'
    done = subprocess.run(["bash", "-c", extraction], cwd=REPO / ".ci", capture_output=True,
                          text=True, check=True)
    assert done.stdout.splitlines() == _quick_start_commands()


def test_readme_links_to_docs_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (REPO / link).is_file(), link
