-- A history entry's detail as json, not jsonb (issue 20, docs/performance.md
-- "Observability round"): every activation writes one and nothing ever looks inside it
-- in SQL (readers take it whole, and Python parses it), so the conversion to jsonb on
-- each insert (~2.6 us a row here) and its larger form (~477 bytes against ~358 of text
-- for the workflow-step benchmark's entries) bought nothing. Entries written with a
-- jsonb expression still fit: jsonb to json is an assignment cast.
--
-- This rewrites rhythm.history (a lock on it for the time of the copy); Citus applies
-- it to every shard of the distributed table.
ALTER TABLE rhythm.history ALTER COLUMN detail DROP DEFAULT;
ALTER TABLE rhythm.history ALTER COLUMN detail TYPE json USING detail::json;
ALTER TABLE rhythm.history ALTER COLUMN detail SET DEFAULT '{}'::json;
