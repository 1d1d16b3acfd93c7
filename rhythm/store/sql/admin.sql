-- Server administration: databases of the embedded server and of the test fixtures.
-- {name} and {template} are identifiers, filled with psycopg.sql.Identifier.

-- name: database_exists
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS present

-- name: create_database
CREATE DATABASE {name}

-- name: create_database_from_template
CREATE DATABASE {name} TEMPLATE {template}

-- name: mark_template
-- A template nobody may connect to can be cloned by many sessions at once.
ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false

-- name: drop_database
DROP DATABASE IF EXISTS {name} WITH (FORCE)

-- name: drop_template
ALTER DATABASE {name} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true

-- name: server_version
SELECT current_setting('server_version') AS version

-- name: rename_database
ALTER DATABASE {name} RENAME TO {new_name}

-- name: advisory_lock
-- Session-level lock serialising one-off setup across processes (e.g. test templates).
SELECT pg_advisory_lock(%(key)s)

-- name: advisory_unlock
SELECT pg_advisory_unlock(%(key)s)
