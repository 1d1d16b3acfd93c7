"""The docs stay true: every relative link resolves, and the getting-started guide's
project behaves in memory exactly as the guide shows (its files, its `rhythm check` and
`rhythm run` transcripts, its pytest file)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "getting-started.md"
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _without_code(text: str) -> str:
    return FENCE.sub("", text)


def _anchors(doc: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", _without_code(doc.read_text()), re.M)}


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", _without_code(doc.read_text())):
        if re.match(r"[a-z]+:", link):
            continue  # http:, mailto:
        path, _, anchor = link.partition("#")
        target = (doc.parent / path).resolve() if path else doc
        if not target.exists():
            broken.append(f"{link} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link} (no heading with that anchor)")
    assert not broken, f"{doc.relative_to(REPO)}: " + ", ".join(broken)


def _guide_files() -> dict[str, str]:
    """The project files the guide shows: code blocks whose first line names a path."""
    files = {}
    for lang, body in FENCE.findall(GUIDE.read_text()):
        first, _, rest = body.partition("\n")
        named = re.fullmatch(r"(?:#|//|--) ([\w/]+\.(?:py|flow|json|sql|toml))", first)
        if named:
            files[named.group(1)] = rest if lang == "json" else body  # JSON has no comments
    return files


def _transcripts(command: str) -> list[tuple[str, str]]:
    """(`$ command ...` line, the output pasted under it) for each run of `command`."""
    found = []
    for _lang, body in FENCE.findall(GUIDE.read_text()):
        for chunk in re.split(r"^(?=\$ )", body, flags=re.M):
            line, _, output = chunk.partition("\n")
            if line == f"$ {command}" or line.startswith(f"$ {command} "):
                found.append((line[2:], output))
    return found


@pytest.fixture
def guide_project(tmp_path: Path) -> Path:
    for name, text in _guide_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    # The guide describes this one in words: the same tasks, no signal.
    mocks = json.loads((tmp_path / "mocks/verified.json").read_text())
    del mocks["signals"]
    (tmp_path / "mocks/never_verified.json").write_text(json.dumps(mocks))
    return tmp_path


def _rhythm(cwd: Path, command_line: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command_line)
    assert argv[0] == "rhythm"
    return subprocess.run([sys.executable, "-m", "rhythm", *argv[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_guide_shows_its_project_files() -> None:
    assert {"pyproject.toml", "tasks.py", "workflows/onboard_user.flow", "schema.sql",
            "mocks/verified.json", "tests/test_onboard_user.py"} <= _guide_files().keys()


def test_guide_rhythm_check_and_run_print_what_the_guide_shows(guide_project: Path) -> None:
    runs = _transcripts("rhythm check") + _transcripts("rhythm run")
    assert len(runs) >= 4, "the guide's rhythm check / rhythm run transcripts went missing"
    for command_line, shown in runs:
        done = _rhythm(guide_project, command_line)
        assert done.stdout == shown, command_line
        assert done.returncode == (1 if "failed" in shown.split("\n", 1)[0] else 0)


def test_guide_pytest_file_passes(guide_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(guide_project)  # the guide runs pytest in the project folder
    namespace: dict[str, object] = {}
    exec(compile((guide_project / "tests/test_onboard_user.py").read_text(),
                 "test_onboard_user.py", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 3
    for test in tests:
        test()
