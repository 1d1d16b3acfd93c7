-- 0001: the foundation. The runner (rhythm/store/migrations.py) has already created
-- the `rhythm` schema and its ledger `rhythm.schema_migrations` before this file runs.
-- Everything Rhythm stores lives in the `rhythm` schema, never in `public`.

COMMENT ON SCHEMA rhythm IS 'Rhythm durable workflows: every table Rhythm owns lives here.';

-- One row naming this installation, so tools can tell databases apart.
CREATE TABLE rhythm.installation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    installation_id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO rhythm.installation DEFAULT VALUES;
