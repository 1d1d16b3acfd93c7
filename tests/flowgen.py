"""A seeded generator of small workflow programs that suspend: tasks (succeeding and
failing), timers, signal waits (with and without timeouts), child workflows, every
``Promise.*`` combinator over mixes of these (lists and objects, nested), try/catch/finally
around awaits, loops with awaits, promises created early and awaited later, and
sometimes a cancellation. Used by the differential test (in memory against Postgres)
and by the in-memory smoke test of many programs.

Timing is chosen so that no two independent events share an instant (the one place
where two hosts may legitimately differ is the order of truly simultaneous events):
timers and timeouts are whole minutes, each mocked signal and the cancellation has its
own second within the minute, each child sleeps whole minutes plus its own tenth of a
second, and a race/any never has two members with tasks (tasks take no virtual time).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

KID = """
await Timer.delay(Inputs.s)
if (Inputs.fail) { throw { name: "KidError", message: "kid " + Inputs.v + " failed" } }
return Inputs.v
"""
TASKS = {"echo": {"echo": True}, "boom": {"fails": {"type": "Boom", "message": "no"}}}
CHANNELS = ("a", "b")
COMBINATORS = ("all", "allSettled", "race", "any")


@dataclass
class Program:
    name: str
    source: str
    mocks: dict[str, Any] = field(default_factory=dict)


class FlowGen:
    """``FlowGen(seed).program(name)`` gives the same programs for the same seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def program(self, name: str) -> Program:
        rng = self.rng
        self._numbers = itertools.count(1)
        self._kids = itertools.count(1)
        self._names = itertools.count(1)
        seconds = rng.sample(range(1, 60), 6)
        signals = []
        for channel in CHANNELS:
            for _ in range(rng.randint(0, 2)):
                after = rng.randint(0, 6) * 60 + seconds.pop()
                signals.append({"name": channel, "payload": next(self._numbers), "after": after})
        mocks: dict[str, Any] = {"tasks": TASKS, "signals": signals}
        if rng.random() < 0.3:
            mocks["cancel"] = {"after": rng.randint(0, 5) * 60 + seconds.pop()}
        body = self._block(rng.randint(2, 5), depth=0)
        source = "let out = []\n" + body + "return out\n"
        return Program(name, source, mocks)

    # ---------------------------------------------------------------- statements

    def _block(self, count: int, depth: int) -> str:
        return "".join(self._statement(depth) for _ in range(count))

    def _statement(self, depth: int) -> str:
        rng = self.rng
        kinds = ["await", "await", "await", "hold", "value", "bare"]
        if depth < 2:
            kinds += ["loop", "finally", "catch", "if"]
        kind = rng.choice(kinds)
        if kind == "await":
            return self._guarded(f"await {self._promise(depth)}")
        if kind == "bare":  # an uncaught failure ends the workflow (rarely)
            return f"out.push(await {self._promise(depth)})\n" if rng.random() < 0.3 else ""
        if kind == "hold":
            held = f"p{next(self._names)}"
            return (f"const {held} = {self._promise(depth)}\n" + self._statement(depth + 1)
                    + self._guarded(f"await {held}"))
        if kind == "value":
            return "out.push(out.length)\n"
        inner = self._block(rng.randint(1, 2), depth + 1)
        if kind == "loop":
            i = f"i{next(self._names)}"
            return f"for (let {i} = 0; {i} < {rng.randint(1, 3)}; {i}++) {{\n{inner}}}\n"
        if kind == "finally":
            after = self._block(1, depth + 1)
            return f'try {{\n{inner}}} finally {{\nout.push("fin")\n{after}}}\n'
        if kind == "catch":
            return f'try {{\n{inner}}} catch (e) {{\nout.push("caught " + e.name)\n}}\n'
        other = self._block(1, depth + 1)
        return f"if (out.length % 2 === 0) {{\n{inner}}} else {{\n{other}}}\n"

    def _guarded(self, awaited: str) -> str:
        caught = "e" if self.rng.random() < 0.3 else "e.name"
        return f"try {{ out.push({awaited}) }} catch (e) {{ out.push({caught}) }}\n"

    # ---------------------------------------------------------------- promises

    def _promise(self, depth: int) -> str:
        rng = self.rng
        kinds = ["task", "task", "fail", "timer", "signal", "wait", "kid"]
        if depth < 3:
            kinds += ["combinator", "combinator"]
        kind = rng.choice(kinds)
        n = next(self._numbers)
        if kind == "task":
            return f'Task.run("echo", {{ v: {n} }})'
        if kind == "fail":
            return f'Task.run("boom", {{ v: {n} }})'
        if kind == "timer":
            return f'Timer.delay("{rng.randint(1, 4)}m")'
        if kind == "signal":
            return f'Signal.next("{rng.choice(CHANNELS)}")'
        if kind == "wait":
            return f'Signal.next("{rng.choice(CHANNELS)}", {{ timeout: "{rng.randint(1, 4)}m" }})'
        if kind == "kid":
            sleep = rng.randint(0, 3) * 60 + next(self._kids) / 10
            fail = "true" if rng.random() < 0.3 else "false"
            return f'Workflow.run("kid", {{ s: {sleep}, v: {n}, fail: {fail} }})'
        return self._combinator(depth)

    def _combinator(self, depth: int) -> str:
        rng = self.rng
        kind = rng.choice(COMBINATORS)
        members = [self._member(depth + 1) for _ in range(rng.randint(1, 3))]
        if kind in ("race", "any"):
            members = self._one_with_tasks(members)
        if rng.random() < 0.3:
            pairs = ", ".join(f"k{i}: {m}" for i, m in enumerate(members))
            return f"Promise.{kind}({{ {pairs} }})"
        return f"Promise.{kind}([{', '.join(members)}])"

    def _one_with_tasks(self, members: list[str]) -> list[str]:
        """At most one member of a race/any may hold tasks: tasks requested together
        finish at the same virtual instant, where the in-memory runner breaks the tie in
        list order but Postgres by which worker thread finished first."""
        seen = False
        kept = []
        for member in members:
            if "Task.run(" in member:
                if seen:
                    member = f'Timer.delay("{self.rng.randint(1, 4)}m")'
                seen = True
            kept.append(member)
        return kept

    def _member(self, depth: int) -> str:
        if self.rng.random() < 0.15:
            return str(next(self._numbers))  # a plain value among the promises
        return self._promise(depth)
