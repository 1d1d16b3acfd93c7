"""Loads tests/db/runtime/conftest.py once as the module ``runtime_conftest``, so that
test folders outside tests/db/runtime (Citus, browser) reuse its fixtures and helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

RUNTIME = Path(__file__).resolve().parent / "db" / "runtime"


def load_runtime_conftest() -> ModuleType:
    name = "runtime_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNTIME / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # puts the runtime folder on sys.path
    return sys.modules[name]
