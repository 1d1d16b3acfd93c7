"""Entry point of the lowering: one :class:`Lowering` per workflow version."""

from __future__ import annotations

from rhythm.compiler.analysis import AwaitIndex
from rhythm.compiler.emitter import Emitter
from rhythm.compiler.identity import AwaitIdentities
from rhythm.compiler.model import MachineModel
from rhythm.compiler.resolve import Resolution
from rhythm.compiler.statements import StatementLowering, Target
from rhythm.frontend import ast as A

# Bump when generated code changes shape: it is part of every generated module's header.
# 2: AWAITS and NEEDS tables (await identities, for `rhythm upgrade`).
COMPILER_VERSION = "2"


class Lowering(StatementLowering):
    def __init__(self, program: A.Program, resolution: Resolution, source: str, file_label: str):
        self.program = program
        self.resolution = resolution
        self.em = Emitter()
        self.awaits = AwaitIndex()
        self.source_lines = source.split("\n")
        self.file_label = file_label
        self._keys: dict[int, str] = {}
        self._name_uses: dict[str, int] = {}
        self._targets: list[Target] = []
        self._last_comment_line = 0
        self.ids = AwaitIdentities(self.source_lines)
        self.bound: set[str] = set()

    def run(self) -> None:
        self.em.start()
        self.block(self.program.body)
        self.em.line("return self.done(None)")


def lower(
    program: A.Program,
    resolution: Resolution,
    *,
    name: str,
    version: str,
    source: str,
    source_path: str,
) -> MachineModel:
    """Lower ``program`` (already checked) into its state machine."""
    file_label = _file_label(source_path)
    lowering = Lowering(program, resolution, source, file_label)
    lowering.run()
    return MachineModel(name, version, source_path, lowering.em.finish())


def _file_label(path: str) -> str:
    """The file name used in comments: its last component, printable ASCII, no spaces."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1] or "workflow.flow"
    return "".join(ch if "!" <= ch <= "~" else "_" for ch in base)
