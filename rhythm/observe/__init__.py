"""History, inspection, tracing, metrics and logs: how to look inside Rhythm.

- :mod:`rhythm.observe.entries`: what an activation's history entry says (pure, shared by
  the Postgres worker and the in-memory runner, so both record the same entries);
- :mod:`rhythm.observe.history`: the ``rhythm.history`` table (migration 0015): read an
  execution's entries, a step's snapshot, append an entry in the caller's transaction;
- :mod:`rhythm.observe.inspect`: where an execution waits, on what, with which variables
  (now, or after step N);
- :mod:`rhythm.observe.timeline`: one readable line per entry (``rhythm history``);
- :mod:`rhythm.observe.telemetry`: the worker's telemetry hooks (a no-op when off) and the
  context they carry; :mod:`rhythm.observe.observing` the real ones, with
  :mod:`rhythm.observe.tracing` (OpenTelemetry spans), :mod:`rhythm.observe.metrics`
  (OpenTelemetry and Prometheus) and :mod:`rhythm.observe.logs` (JSON log lines).
"""
