"""The Node.js package's own tests (``node --test``, node/test/*.test.js), each file
against a fresh migrated database of the embedded Postgres, so that the README's one
test command runs them too."""

from __future__ import annotations

import json
import subprocess

import pytest
from nodejs import PACKAGE, node_env, node_or_skip

FILES = sorted(p.name for p in (PACKAGE / "test").glob("*.test.js"))


@pytest.mark.parametrize("name", FILES)
def test_node_test_file(db_url: str, name: str) -> None:
    node = node_or_skip()
    done = subprocess.run([node, "--test", f"test/{name}"], cwd=PACKAGE, env=node_env(db_url),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# skipped 0" in done.stdout and "# fail 0" in done.stdout, done.stdout[-3000:]


def test_npm_pack_ships_the_projects_sql_and_the_sources() -> None:
    node_or_skip()
    done = subprocess.run(["npm", "pack", "--dry-run", "--json"], cwd=PACKAGE,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [pack] = json.loads(done.stdout)
    files = {f["path"] for f in pack["files"]}
    sql = {p.name for p in (PACKAGE.parent / "rhythm" / "store" / "sql").glob("*.sql")}
    assert {f"sql/{name}" for name in sql} <= files  # copied by the prepack build step
    assert {"package.json", "README.md", "src/index.js", "src/worker.js"} <= files
    assert not any(f.startswith(("test/", "node_modules/")) for f in files)


def test_the_package_type_checks() -> None:
    # JSDoc types checked by TypeScript (a dev dependency; nothing is compiled).
    node_or_skip()
    done = subprocess.run(["npm", "run", "--silent", "typecheck"], cwd=PACKAGE,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
