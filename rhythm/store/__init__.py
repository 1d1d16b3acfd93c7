"""The store: everything between Rhythm and Postgres.

Connections (:mod:`.connect`), the embedded server (:mod:`.embedded`, binaries and users
in :mod:`.pgbin`), migrations (:mod:`.migrations`), named SQL (:mod:`.queries`, files in
``sql/``) and database administration (:mod:`.admin`). Any command that needs Postgres
calls :func:`database_url`, which starts the embedded server on first use unless a real
URL is configured.
"""

from __future__ import annotations

from rhythm.config import Settings, load_settings


def database_url(settings: Settings | None = None) -> str:
    """The URL every Rhythm process should use: the configured one, else the embedded
    server's (started now if it is not running)."""
    settings = settings or load_settings()
    if settings.database_url is not None:
        return settings.database_url
    from rhythm.store.embedded import ensure_running

    return ensure_running(settings)


__all__ = ["database_url"]
