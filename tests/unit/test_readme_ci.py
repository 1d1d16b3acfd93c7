"""The README's Quick start is what CI runs: exactly two commands, extracted by .ci/run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = "\n# Before the README's commands:"  # where .ci/run's set-up step starts


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
    # Run only the extraction part of the script (not the set-up that follows it, which
    # installs Citus as root, nor the commands) and compare.
    assert SETUP in script and script.index(SETUP) < script.index("for command in")
    extraction = script.split(SETUP, 1)[0] + 'printf "%s\\n" "${commands[@]}"\n'
    done = subprocess.run(["bash", "-c", extraction], cwd=REPO / ".ci", capture_output=True,
                          text=True, check=True)
    assert done.stdout.splitlines() == _quick_start_commands()


def test_readme_links_to_docs_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (REPO / link).is_file(), link


def _citus_step(tmp_path: Path, uid: int) -> str:
    """Run .ci/run's set-up step (between the extraction and the commands) in a copy of
    the layout (repo/ beside shared/citus/install.sh, a stub that says it ran) as ``uid``
    (a fake ``id`` on PATH); what the stub wrote."""
    script = (REPO / ".ci" / "run").read_text()
    step = "#" + script.split(SETUP, 1)[1].split("for command in", 1)[0]
    (tmp_path / "repo").mkdir()
    stub = tmp_path / "shared" / "citus" / "install.sh"
    stub.parent.mkdir(parents=True)
    stub.write_text(f"echo installed > {tmp_path / 'ran'}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    subprocess.run(["bash", "-euo", "pipefail", "-c", step], cwd=tmp_path / "repo", check=True,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True)
    ran = tmp_path / "ran"
    return ran.read_text().strip() if ran.exists() else ""


def test_ci_installs_citus_from_the_shared_folder_as_root(tmp_path: Path) -> None:
    assert _citus_step(tmp_path, 0) == "installed"


def test_ci_does_not_try_to_install_citus_as_another_user(tmp_path: Path) -> None:
    assert _citus_step(tmp_path, 1000) == ""
