-- Queries of the migration runner (rhythm/store/migrations.py).

-- name: lock_migrations
-- Serialise migration runs across processes (session-level advisory lock).
SELECT pg_advisory_lock(%(key)s)

-- name: unlock_migrations
SELECT pg_advisory_unlock(%(key)s)

-- name: create_migrations_table
-- The ledger lives in the rhythm schema and exists before migration 0001 runs.
CREATE SCHEMA IF NOT EXISTS rhythm;
CREATE TABLE IF NOT EXISTS rhythm.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: migrations_table_exists
SELECT to_regclass('rhythm.schema_migrations') IS NOT NULL AS present

-- name: applied_migrations
SELECT version, name, checksum FROM rhythm.schema_migrations ORDER BY version

-- name: record_migration
INSERT INTO rhythm.schema_migrations (version, name, checksum)
VALUES (%(version)s, %(name)s, %(checksum)s)

-- name: schema_version
-- The schema's version, checked once when a process first connects (UndefinedTable:
-- never migrated).
SELECT max(version) FROM rhythm.schema_migrations
