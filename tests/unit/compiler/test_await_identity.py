"""Await identities (rhythm/compiler/identity.py): what they read like, explicit labels,
and that unrelated edits leave the identities of untouched awaits unchanged."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.codegen.compile import compile_flow
from rhythm.errors import CompileError


def _identities(source: str) -> dict[int, str]:
    """.flow line -> identity of the await resumed there (one await per line here)."""
    cls = compile_flow(source, "w.flow", "w")
    return {cls.INFO.lines[label]: identity for label, identity in cls.AWAITS.items()}


def test_identities_name_the_effect_and_its_place() -> None:
    source = (
        'const p = await Task.run("charge", {})\n'
        "let n = 0\n"
        "while (n < 3) {\n"
        "  if (n > 1) {\n"
        '    await Task.run("ping", { n })\n'
        "  } else {\n"
        '    await Signal.next("go")\n'
        "  }\n"
        '  await Task.run("ping", { n })\n'
        '  await Task.run("ping", { n })\n'
        "  n++\n"
        "}\n"
        'await Promise.race([Signal.next("x"), Timer.delay("1h")])\n'
        'return Task.run("ship", {})\n'
    )
    assert _identities(source) == {
        1: "Task.run:charge#1",
        5: "while#1/if#1/then/Task.run:ping#1",
        7: "while#1/if#1/else/Signal.next:go#1",
        9: "while#1/Task.run:ping#1",
        10: "while#1/Task.run:ping#2",
        13: "Promise.race[Signal.next:x,Timer.delay]#1",
        14: "return#1",
    }


def test_identities_are_shown_in_the_generated_code() -> None:
    from rhythm.codegen.compile import generate

    text = generate('await Task.run("a", {})\nreturn 1\n', "w.flow", "w").text
    assert re.search(r'AWAITS = \{\s*1: "Task.run:a#1",', text)
    assert "# await Task.run:a#1" in text


def test_an_explicit_label_pins_the_identity() -> None:
    source = 'let x = 1\n// @await approval\nconst a = await Signal.next("ok")\nreturn a\n'
    assert _identities(source)[3] == "@approval"
    moved = 'await Task.run("new", {})\n\n// @await approval\nlet a = await Signal.next("b")\n'
    assert _identities(moved)[4] == "@approval"


def test_a_label_used_twice_is_a_compile_error() -> None:
    source = "// @await a\nawait Task.run('x')\n// @await a\nawait Task.run('y')\n"
    with pytest.raises(CompileError, match="await label 'a' is used twice"):
        compile_flow(source, "w.flow", "w")


def test_needs_lists_the_variables_bound_before_the_await() -> None:
    source = (
        'const a = await Task.run("one", {})\n'
        'const b = await Task.run("two", {})\n'
        "const later = 1\n"
        "return [a, b, later]\n"
    )
    cls = compile_flow(source, "w.flow", "w")
    by_identity = {cls.AWAITS[label]: cls.NEEDS[label] for label in cls.AWAITS}
    assert by_identity == {"Task.run:one#1": (), "Task.run:two#1": ("a",)}
    assert "later" in cls.LIVE[max(cls.AWAITS)]  # live (declared in the block), not needed


# ------------------------------------------------------------------ property test

@dataclass
class Node:
    kind: str  # await | plain | if | while | try
    name: str = ""
    tag: int = 0
    body: list[Node] = field(default_factory=list)
    other: list[Node] = field(default_factory=list)  # else / catch


def _program(rng: random.Random, depth: int = 0, counter: list[int] | None = None) -> list[Node]:
    counter = counter if counter is not None else [0]
    nodes: list[Node] = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.45 or depth >= 2:
            counter[0] += 1
            nodes.append(Node("await", rng.choice("abc"), counter[0]))
        elif roll < 0.6:
            nodes.append(Node("plain", f"u{rng.randint(0, 2)}"))
        else:
            kind = rng.choice(["if", "while", "try"])
            node = Node(kind, body=_program(rng, depth + 1, counter))
            if kind == "try" or (kind == "if" and rng.random() < 0.5):
                node.other = _program(rng, depth + 1, counter)
            nodes.append(node)
    return nodes


def _render(nodes: list[Node], indent: str = "") -> list[str]:
    out: list[str] = []
    for n in nodes:
        if n.kind == "await":
            out.append(f'{indent}await Task.run("{n.name}", {{ tag: {n.tag} }})')
        elif n.kind == "plain":
            out.append(f"{indent}{n.name} = {n.name} + 1")
        elif n.kind == "if":
            out.append(f"{indent}if (u0 > 1) {{")
            out += _render(n.body, indent + "  ")
            if n.other:
                out.append(f"{indent}}} else {{")
                out += _render(n.other, indent + "  ")
            out.append(f"{indent}}}")
        elif n.kind == "while":
            out.append(f"{indent}while (u1 < 3) {{")
            out += _render(n.body, indent + "  ")
            out.append(f"{indent}}}")
        else:
            out.append(f"{indent}try {{")
            out += _render(n.body, indent + "  ")
            out.append(f"{indent}}} catch (err) {{")
            out += _render(n.other, indent + "  ")
            out.append(f"{indent}}}")
    return out


def _source(nodes: list[Node]) -> str:
    return "\n".join(["let u0 = 0", "let u1 = 0", "let u2 = 0", *_render(nodes), "return u2"])


def _blocks(nodes: list[Node]) -> list[list[Node]]:
    found = [nodes]
    for n in nodes:
        found += _blocks(n.body) + _blocks(n.other) if n.body or n.other else []
    return found


def _by_tag(source: str) -> dict[int, str]:
    identities = _identities(source)
    tags = {}
    for number, text in enumerate(source.split("\n"), 1):
        match = re.search(r"tag: (\d+) ", text)
        if match:
            tags[int(match.group(1))] = identities[number]
    return tags


EDITS = ("line_above", "rename", "new_await")


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.sampled_from(EDITS), min_size=1,
                                                   max_size=3))
def test_unrelated_edits_keep_the_identities_of_untouched_awaits(
    rng: random.Random, edits: list[str]
) -> None:
    nodes = _program(rng)
    before = _by_tag(_source(nodes))
    renamed = False
    for edit in edits:
        block = rng.choice(_blocks(nodes))
        where = rng.randint(0, len(block))
        if edit == "line_above":
            block.insert(where, Node("plain", "u2"))
        elif edit == "new_await":  # a new step: its own task name
            block.insert(where, Node("await", "fresh", 0))
        else:
            renamed = True
    source = _source(nodes)
    if renamed:  # a variable no await's identity depends on
        source = re.sub(r"\bu2\b", "total_renamed", source)
    after = _by_tag(source)
    after.pop(0, None)  # the new awaits (tag 0)
    assert after == before
