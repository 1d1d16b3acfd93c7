"""The .flow compiler's middle: lowering a checked program into a state-machine model.

``lower(program, resolution, ...)`` returns a :class:`MachineModel` (``model.py``) that
``rhythm.codegen`` renders as Python. See ``statements.py`` and ``expressions.py`` for
how each construct is lowered, and ``rhythm/flowrt/machine.py`` for the runtime side.
"""

from __future__ import annotations

from rhythm.compiler.lowering import COMPILER_VERSION, lower
from rhythm.compiler.model import MachineModel, State

__all__ = ["COMPILER_VERSION", "MachineModel", "State", "lower"]
