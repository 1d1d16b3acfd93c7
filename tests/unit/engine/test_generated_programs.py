"""Many generated programs (``tests/flowgen.py``) in memory: each compiles, and none
meets an internal error (a protocol violation of the host, like issue 16's race after a
suspension). The same programs are compared with Postgres in tests/db/runtime."""

from __future__ import annotations

import pytest
from flowgen import KID, FlowGen

from rhythm.testing import run_flow

try:
    from rhythm.codegen import compile_flow  # noqa: F401
except ImportError:  # pragma: no cover - before the compiler lands
    pytest.skip("rhythm.codegen.compile_flow not built", allow_module_level=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_programs_run_without_internal_errors(seed: int) -> None:
    gen = FlowGen(seed)
    statuses = set()
    for i in range(50):
        program = gen.program(f"g{i}")
        result = run_flow(program.source, {}, program.mocks, name=program.name,
                          workflows={"kid": KID}, start_time=0)
        assert result.status != "compile_error", (program.source, result.errors)
        assert result.internal_errors == [], (program.source, result.internal_errors[0])
        statuses.add(result.status)
    assert "completed" in statuses  # (the generator makes programs that finish)
