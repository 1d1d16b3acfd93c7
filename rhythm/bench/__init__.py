"""``rhythm bench``: the benchmark harness (throughput, latency, resume cost, claim cost).

Each sub-benchmark lives in its own module and returns :class:`~rhythm.bench.results.Figure`
rows: :mod:`.tasks` (no-op task throughput), :mod:`.workflows` (workflow step throughput),
:mod:`.latency` (enqueue → start, task end → next step), :mod:`.resume` (per-step time and
snapshot size along one long loop) and :mod:`.claim` (claim latency against the queue's
size). Every run gets a fresh database (:mod:`.database`); work is drained by ONE worker
process (:mod:`.drain`) running the no-op tasks and flows of :mod:`.noop`. Figures are
printed by the CLI (``rhythm/cli/bench.py``); ``docs/performance.md`` says what bounds each.
"""
