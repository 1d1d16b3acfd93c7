-- User payloads keep their key order (language spec section 3: objects are
-- insertion-ordered and JSON output keeps that order). jsonb sorts object keys (by
-- length, then bytes), so inputs, results, errors, promise values and params, and
-- signal payloads become json, which stores the text as written.
--
-- What json cannot do, and why nothing here needs it: it has no equality operator
-- (no DISTINCT, GROUP BY, UNION or = over these columns) and no containment (@>);
-- the runtime's queries only copy these columns and read them with -> and ->>.
-- options and snapshots stay jsonb: options are read by key only, and the snapshot
-- codec keeps order in arrays.
--
-- Values written before this migration were already reordered by jsonb; converting
-- them keeps that (reordered) text. Each ALTER TABLE rewrites its table once.

ALTER TABLE rhythm.executions ALTER COLUMN inputs DROP DEFAULT;
ALTER TABLE rhythm.executions
    ALTER COLUMN inputs TYPE json USING inputs::json,
    ALTER COLUMN result TYPE json USING result::json,
    ALTER COLUMN error TYPE json USING error::json;
ALTER TABLE rhythm.executions ALTER COLUMN inputs SET DEFAULT '{}'::json;

ALTER TABLE rhythm.execution_runs
    ALTER COLUMN inputs TYPE json USING inputs::json,
    ALTER COLUMN result TYPE json USING result::json,
    ALTER COLUMN error TYPE json USING error::json;

-- params holds a task's or child's inputs and a signal wait's timeout error (the value
-- its rejection carries), so it is a user payload too.
ALTER TABLE rhythm.promises ALTER COLUMN params DROP DEFAULT;
ALTER TABLE rhythm.promises
    ALTER COLUMN value TYPE json USING value::json,
    ALTER COLUMN params TYPE json USING params::json;
ALTER TABLE rhythm.promises ALTER COLUMN params SET DEFAULT '{}'::json;

ALTER TABLE rhythm.signals ALTER COLUMN payload DROP DEFAULT;
ALTER TABLE rhythm.signals ALTER COLUMN payload TYPE json USING payload::json;
ALTER TABLE rhythm.signals ALTER COLUMN payload SET DEFAULT 'null'::json;
