# ruff: noqa: E501  (a table of .flow programs reads best one per line)
"""Every construct x every suspension position, run straight and resumed from snapshots.

``run_flow`` runs each workflow three ways — nothing suspends (eager host), one machine
resumed in place, and snapshot -> JSON text -> fresh machine at every suspension — and
asserts that the three agree on the result and on the effect calls. The expected values
below are what JavaScript gives for the same program.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.compiler.flowhost import run_flow

E = '(await Task.run("echo", {v: %s})).v'  # an awaited task that gives back its argument


AB, QX, QF = "\"ab\"", "\"x\"", "\"f\""


def ev(x: str) -> str:
    return "(" + (E % x) + ")"


CASES: list[tuple[str, str, Any]] = [
    ("straight", "let a = 1\nreturn a + 2", 3),
    ("decl", f"let a = {ev('5')}\nreturn a", 5),
    ("binary-left-kept", f"let n = 1\nlet s = n + {ev('10')}\nreturn s", 11),
    ("binary-both", f"return {ev('2')} * {ev('3')} - {ev('1')}", 5),
    ("call-args", f"return Math.max(1, {ev('7')}, {ev('3')})", 7),
    ("method-args", f"return [1, 2].concat([{ev('3')}], {ev('4')})", [1, 2, 3, 4]),
    ("array-literal", f"return [{ev('1')}, 2, {ev('3')}]", [1, 2, 3]),
    ("object-literal", f"return {{a: {ev('1')}, b: 2, ['c' + 1]: {ev('3')}}}", {"a": 1, "b": 2, "c1": 3}),
    ("template", f"return `x=${{{ev('1')}}} y=${{{ev('2')}}}!`", "x=1 y=2!"),
    ("and-reached", f"return true && {ev('4')}", 4),
    ("and-skipped", f"return 0 && {ev('4')}", 0),
    ("or-skipped", f"return 5 || {ev('4')}", 5),
    ("nullish-reached", f"return null ?? {ev('4')}", 4),
    ("nullish-skipped", f"let c = 0\nlet r = 'x' ?? {ev('4')}\nreturn r", "x"),
    ("conditional", f"return {ev('1')} ? {ev('2')} : {ev('3')}", 2),
    ("conditional-else", f"return {ev('0')} ? {ev('2')} : {ev('3')}", 3),
    ("unary", f"return -{ev('2')} + (typeof {ev('1')}) + !{ev('0')}", "-2numbertrue"),
    ("optional-call-await", f"let o = {{f: null}}\nreturn [({ev('o')})?.f?.(), ({ev('[3]')})?.concat?.({ev('4')})]", [None, [3, 4]]),
    ("optional-chain", f"let o = null\nreturn [o?.a.b, ({ev('{k: 1}')})?.k]", [None, 1]),
    ("member-await", f"return {ev('[5, 6]')}[1]", 6),
    ("assign", f"let x = 1\nx = {ev('2')}\nreturn x", 2),
    ("compound", f"let x = 1\nx += {ev('2')}\nreturn x", 3),
    ("compound-read-first", f"let o = {{n: 1}}\no.n += (o.n = 10) * 0 + {ev('5')}\nreturn o.n", 6),
    ("logical-assign", f"let x = null\nx ??= {ev('2')}\nlet y = 1\ny ||= {ev('9')}\nreturn [x, y]", [2, 1]),
    ("member-assign", f"let o = {{a: 1}}\no.a += {ev('2')}\no['b'] = {ev('3')}\nreturn o", {"a": 3, "b": 3}),
    ("update", f"let o = {{n: {ev('1')}}}\no.n++\nlet k = o.n++\nreturn [o.n, k]", [3, 2]),
    ("if", f"let r = []\nif ({ev('true')}) {{ r.push({ev('1')}) }} else {{ r.push(2) }}\nreturn r", [1]),
    ("if-else", f"let r = 0\nif ({ev('false')}) r = 1\nelse r = {ev('2')}\nreturn r", 2),
    ("while", f"let i = 0\nlet s = 0\nwhile (i < {ev('3')}) {{ s += {ev('i')}; i++ }}\nreturn s", 3),
    ("do-while", f"let i = 0\ndo {{ i = i + {ev('1')} }} while (i < 3)\nreturn i", 3),
    ("for", f"let s = []\nfor (let i = {ev('0')}; i < {ev('3')}; i += {ev('1')}) s.push(i)\nreturn s", [0, 1, 2]),
    ("for-continue-break", f"let s = []\nfor (let i = 0; i < 10; i++) {{ if (i == 1) continue; if (i == 4) break; s.push({ev('i')}) }}\nreturn s", [0, 2, 3]),
    ("native-for-continue", "let s = []\nfor (let i = 0; i < 5; i++) { if (i % 2) continue; s.push(i) }\nreturn s", [0, 2, 4]),
    ("for-of", f"let s = 0\nfor (const x of [1, 2, 3]) s += {ev('x')}\nreturn s", 6),
    ("for-of-await-iterable", f"let s = []\nfor (const c of {ev(AB)}) s.push(c)\nreturn s", ["a", "b"]),
    ("for-of-destructure", f"let s = []\nfor (const {{a, b = {ev('9')}}} of [{{a: 1}}, {{a: 2, b: 3}}]) s.push(a + b)\nreturn s", [10, 5]),
    ("for-in", f"let s = []\nfor (const k in {{x: 1, y: 2}}) s.push(k + {ev('1')})\nreturn s", ["x1", "y1"]),
    ("for-of-live-mutation", f"let xs = [1]\nlet n = 0\nfor (const x of xs) {{ n++; if (x < 3) xs.push(x + {ev('1')}) }}\nreturn n", 3),
    ("destructure", f"const {{a, b: [c, d = {ev('4')}], e = 5}} = {ev('{a: 1, b: [3]}')}\nreturn [a, c, d, e]", [1, 3, 4, 5]),
    ("shadowing", f"let x = 1\n{{ let x = {ev('2')}; x++ }}\nreturn x", 1),
    ("shadowing-loop", f"let x = 'out'\nfor (let x = 0; x < 2; x++) {{ {ev('x')} }}\nreturn x", "out"),
    ("try-catch", f"try {{ await Task.run('fail') }} catch (e) {{ return e.name + {ev('1')} }}", "TaskError1"),
    ("try-catch-destructure", "try { await Task.run('fail') } catch ({message}) { return message }", "boom"),
    ("try-finally-normal", f"let r = []\ntry {{ r.push({ev('1')}) }} finally {{ r.push({ev('2')}) }}\nreturn r", [1, 2]),
    ("finally-on-throw", f"let r = []\ntry {{ try {{ await Task.run('fail') }} finally {{ r.push({ev('1')}) }} }} catch (e) {{ r.push(e.task) }}\nreturn r", [1, "fail"]),
    ("return-through-finally", f"let r = []\ntry {{ return {ev('1')} }} finally {{ r.push({ev('2')}) }}", 1),
    ("return-value-kept", "let o = {n: 1}\ntry { return o.n } finally { o.n = 5; await Task.run('x') }", 1),
    ("break-through-finally", f"let r = []\nwhile (true) {{ try {{ break }} finally {{ r.push({ev('1')}) }} }}\nreturn r", [1]),
    ("continue-through-finally", f"let r = []\nfor (let i = 0; i < 2; i++) {{ try {{ if (i == 0) continue; r.push('b') }} finally {{ r.push({ev('i')}) }} }}\nreturn r", [0, "b", 1]),
    ("nested-finally-route", f"let r = []\nfor (const x of [1]) {{ try {{ try {{ break }} finally {{ r.push({ev('1')}) }} }} finally {{ r.push({ev('2')}) }} r.push('no') }}\nreturn r", [1, 2]),
    ("return-nested-finally", f"let r = []\ntry {{ try {{ return r }} finally {{ r.push({ev('1')}) }} }} finally {{ r.push({ev('2')}) }}", [1, 2]),
    ("finally-overrides", f"let r = 0\nfor (let i = 0; i < 3; i++) {{ try {{ return 'try' }} finally {{ {ev('1')}; if (i < 2) continue }} }}\nreturn 'loop'", "try"),
    ("catch-then-finally", f"let r = []\ntry {{ throw {ev(QX)} }} catch (e) {{ r.push(e); throw 'again' }} finally {{ r.push({ev(QF)}) }}", None),
    ("throw-await", f"try {{ throw {ev('{code: 7}')} }} catch (e) {{ return e }}", {"code": 7}),
    ("rethrow-in-catch-suspends", f"try {{ try {{ await Task.run('fail') }} catch (e) {{ {ev('1')}; throw e.message }} }} catch (m) {{ return m }}", "boom"),
    ("return-promise", "return Task.run('echo', {v: 3})", {"v": 3}),
    ("return-promise-in-loop", "for (const x of [1]) { return Task.run('echo', {x}) }", {"x": 1}),
    ("promise-in-result", "return {p: Task.run('echo')}", None),
    ("promise-later", "const p = Task.run('echo', {v: 1})\nconst q = Task.run('echo', {v: 2})\nreturn (await q).v + (await p).v + (await p).v", 4),
    ("fire-and-forget", "Task.run('a')\nawait Task.run('b')\nreturn 1", 1),
    ("await-non-promise", "return (await 5) + (await null ?? 1)", 6),
    ("promise-all", "const [a, b] = await Promise.all([Task.run('echo', {v: 1}), 2])\nreturn [a.v, b]", [1, 2]),
    ("arrow-callbacks", f"const xs = {ev('[1, 2, 3]')}\nreturn xs.map(x => x * 2).filter((x, i) => i > 0).reduce((a, b) => a + b, {ev('100')})", 110),
    ("arrow-block", "return [1, 2, 3].map(x => { let y = x; for (let i = 0; i < 2; i++) { y += i } return y })", [2, 3, 4]),
    ("await-in-array-method-arg", "const xs = [1, 2]\nreturn xs.indexOf(await Task.run('add', {a: 1, b: 1}))", 1),
    ("inputs", f"return Inputs.n + {ev('1')}", 42),
    ("uncaught", f"{ev('1')}\nthrow {{name: 'Oops', message: 'm'}}", None),
    ("timer", "await Timer.delay(5)\nawait sleep(1)\nreturn 'ok'", "ok"),
    ("signal", "const p = await Signal.next('go')\nreturn p", {"ok": True}),
    ("child", "return (await Workflow.run('kid', {a: 1})).inputs", {"a": 1}),
    ("wrapper-workflow", "workflow(ctx, input) {\n  return input.n + (await Task.run('echo', {v: ctx.executionId})).v.length\n}", 44),
    ("wrapper-main", "async function main() {\n  return await Task.run('echo', {v: 1})\n}", {"v": 1}),
    ("many-states", "let s = 0\nfor (let i = 0; i < 30; i++) s += (await Task.run('echo', {v: i})).v\nreturn s", 435),
]

FAILS = {"promise-in-result", "catch-then-finally", "uncaught"}


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_construct(source: str, expected: Any, request: pytest.FixtureRequest) -> None:
    case = request.node.callspec.id
    run = run_flow(source, {"n": 41}, signals={"go": [{"ok": True}]})
    if case in FAILS:
        assert run.status == "failed", run
    else:
        assert run.status == "completed", run
        assert run.value == expected
