"""The runtime's named SQL queries.

They are written in ``rhythm/store/sql/runtime.sql`` and loaded by the store's loader
(:mod:`rhythm.store.queries`); :data:`Q` maps a query name to its SQL text. Nothing in
the runtime builds SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping

from rhythm.store.queries import QUERIES

Q: Mapping[str, str] = QUERIES
