"""Host-independent workflow semantics and the in-memory host.

- :mod:`rhythm.engine.promises` — the promise table of one execution and combinator
  settlement (pure; the Postgres runtime reuses it over records it loads).
- :mod:`rhythm.engine.signals` — FIFO signal channels with buffering and abandonment.
- :mod:`rhythm.engine.flow_errors` — the error objects of spec section 8.
- :mod:`rhythm.engine.mocks` — the ``--mocks`` file of ``rhythm run``.
- :mod:`rhythm.engine.memory` — the in-memory host and scheduler (virtual clock).

Imports only :mod:`rhythm.flowrt` and the standard library (docs/architecture.md).
"""
