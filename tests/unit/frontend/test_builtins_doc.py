"""The built-in documentation table covers the whole catalogue, and docs/builtins.md is
exactly what the table renders (so hover text and the docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

from rhythm import catalog
from rhythm.frontend import builtins_doc

DOC = Path(__file__).resolve().parents[3] / "docs" / "builtins.md"


def test_every_catalogue_name_has_an_entry() -> None:
    wanted = set(catalog.BUILTIN_NAMES)
    wanted |= {f"{ns}.{m}" for ns, members in catalog.NAMESPACES.items() for m in members}
    wanted |= {f"{ns}.{c}" for ns, consts in catalog.NAMESPACE_CONSTANTS.items() for c in consts}
    wanted |= {f"Context.{f}" for f in catalog.CONTEXT_FIELDS}
    wanted |= {f"string.{m}" for m in [*catalog.STRING_METHODS, "length"]}
    wanted |= {f"array.{m}" for m in [*catalog.ARRAY_METHODS, "length"]}
    missing = sorted(k for k in wanted if builtins_doc.lookup(k) is None)
    assert not missing


def test_no_entry_for_something_the_catalogue_lacks() -> None:
    for key in builtins_doc.MEMBERS:
        owner, member = key.split(".")
        known = {**catalog.NAMESPACES.get(owner, {}),
                 **dict.fromkeys(catalog.NAMESPACE_CONSTANTS.get(owner, ()))}
        if owner == "Context":
            known = dict.fromkeys(catalog.CONTEXT_FIELDS)
        assert member in known, key
    assert set(builtins_doc.GLOBALS) == set(catalog.BUILTIN_NAMES)


def test_docs_builtins_md_is_generated_from_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == builtins_doc.render_markdown(), (
        "docs/builtins.md is stale: python -m rhythm.frontend.builtins_doc > docs/builtins.md"
    )


def test_method_docs_give_both_receivers() -> None:
    assert [d.signature for d in builtins_doc.method_docs("slice")] == [
        "slice(start = 0, end = length)", "slice(start = 0, end = length)"]
    assert builtins_doc.method_docs("trim")[0].signature == "trim()"


def test_the_language_guide_mentions_every_documented_builtin() -> None:
    guide = (DOC.parent / "language.md").read_text(encoding="utf-8")
    section = guide.split("## Built-ins", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[A-Za-z_$][\w$]*", section))
    missing = sorted(key for key in [*builtins_doc.GLOBALS, *builtins_doc.MEMBERS,
                                     *builtins_doc.METHODS]
                     if key.split(".")[-1] not in words)
    assert not missing, f"docs/language.md's Built-ins section does not mention {missing}"
