"""editors/vscode: the TextMate grammar passes its snippet corpus (scopes asserted per token
with vscode-tmgrammar-test), names exactly the catalogue's built-ins, and the extension
packages into a .vsix with @vscode/vsce.

The Node.js tools come from editors/vscode/package-lock.json (`npm ci`). Without npm the
Node.js tests skip, except under CI, where they fail (.ci/run installs npm as root)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rhythm import catalog

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"
GRAMMAR = EXTENSION / "syntaxes" / "flow.tmLanguage.json"


@pytest.fixture(scope="module")
def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed for the VS Code extension's tests (CI is set)")
        pytest.skip("npm is not installed: the grammar and packaging tests need Node.js")
    installed = EXTENSION / "node_modules" / ".package-lock.json"
    lock = EXTENSION / "package-lock.json"
    # pytest-xdist workers may get here together: one installs, the others wait for it.
    with (EXTENSION / "package-lock.json").open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
                subprocess.run([found, "ci", "--no-audit", "--no-fund"], cwd=EXTENSION,
                               check=True, capture_output=True, timeout=600)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return found


def test_grammar_snippets_have_the_expected_scopes(npm: str) -> None:
    done = subprocess.run([npm, "test"], cwd=EXTENSION, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    snippets = sorted((EXTENSION / "tests" / "grammar").glob("*.test.flow"))
    assert len(snippets) >= 3
    assert done.stdout.count("run successfuly") == len(snippets), done.stdout


def test_extension_packages_into_a_vsix(npm: str, tmp_path: Path) -> None:
    out = tmp_path / "rhythm-flow.vsix"
    done = subprocess.run(["npx", "--no-install", "vsce", "package",
                           "--allow-missing-repository", "--out", str(out)],
                          cwd=EXTENSION, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.stat().st_size > 10_000


def _alternatives(scope: str) -> set[str]:
    grammar = json.loads(GRAMMAR.read_text())
    for pattern in grammar["repository"]["builtins"]["patterns"]:
        if pattern["name"] == scope:
            return set(re.search(r"\(([\w|]+)\)", pattern["match"]).group(1).split("|"))  # type: ignore[union-attr]
    raise AssertionError(f"no {scope} pattern")


def test_grammar_names_the_catalogue_builtins() -> None:
    assert _alternatives("support.class.builtin.flow") == set(catalog.NAMESPACES)
    assert _alternatives("support.variable.builtin.flow") == set(catalog.VALUES)
    assert _alternatives("support.function.builtin.flow") == set(catalog.FUNCTIONS)
    assert _alternatives("support.class.error.flow") == set(catalog.ERROR_NAMES)


def test_manifest_points_at_its_files() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text())
    [language] = manifest["contributes"]["languages"]
    assert language["extensions"] == [".flow"]
    assert (EXTENSION / language["configuration"]).is_file()
    [grammar] = manifest["contributes"]["grammars"]
    assert (EXTENSION / grammar["path"]).resolve() == GRAMMAR
    assert (EXTENSION / manifest["main"]).is_file()
    config = json.loads((EXTENSION / "language-configuration.json").read_text())
    assert config["comments"] == {"lineComment": "//", "blockComment": ["/*", "*/"]}


def _activate(folder: Path, configured: str = "") -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the VS Code extension's tests (CI is set)")
        pytest.skip("node is not installed")
    script = EXTENSION / "tests" / "client" / "activate.test.js"
    done = subprocess.run([node, str(script), str(folder), *([configured] if configured else [])],
                          capture_output=True, text=True, check=True, timeout=60)
    [started] = json.loads(done.stdout)["started"]
    return started["server"]  # type: ignore[no-any-return]


def test_client_starts_the_workspace_environments_rhythm(tmp_path: Path) -> None:
    assert _activate(tmp_path) == {"command": "rhythm", "args": ["lsp"],
                                   "options": {"cwd": str(tmp_path)}}
    venv_rhythm = tmp_path / ".venv" / "bin" / "rhythm"
    venv_rhythm.parent.mkdir(parents=True)
    venv_rhythm.touch()
    assert _activate(tmp_path)["command"] == str(venv_rhythm)
    assert _activate(tmp_path, "/opt/tools/rhythm")["command"] == "/opt/tools/rhythm"
