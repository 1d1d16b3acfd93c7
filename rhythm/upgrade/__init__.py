"""Moving running workflows between versions (``rhythm upgrade``, issue 24).

Owns the run side of upgrades: :mod:`plan` maps a suspended execution's snapshot from
one compiled version to another by await identity (the compiler's ``AWAITS``/``NEEDS``
tables, rhythm/compiler/identity.py) and says why when it cannot; :mod:`move` reads the
candidates and moves each compatible one in a fenced transaction of its own, recording
an ``upgraded`` history entry; :mod:`fork` starts a new execution from the snapshot of a
step (``rhythm fork``); :mod:`machines` loads both versions in the upgrading process.
The CLI is rhythm/cli/upgrade.py, the SQL rhythm/store/sql/upgrade.sql. Guide:
docs/upgrades.md.
"""
