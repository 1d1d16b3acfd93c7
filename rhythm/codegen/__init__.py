"""Code generation: machine models -> readable Python modules (Jinja + black), and builds.

Public API:
- ``compile_flow(source, path, name=None) -> type[Machine]``: in memory, no files.
- ``generate(source, path, name=None) -> Generated``: the formatted module text.
- ``build(paths, out_dir, check=False)`` in ``rhythm.codegen.build``: ``rhythm build``.
"""

from __future__ import annotations

from rhythm.codegen.compile import Generated, compile_flow, generate, version_of

__all__ = ["Generated", "compile_flow", "generate", "version_of"]
