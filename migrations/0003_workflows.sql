-- Workflow executions on Postgres (issue 5, part E): what the activation, signal and
-- timer paths need beyond 0002. Design notes: docs/runtime.md, "Workflows".
--
--  * combinators (Promise.all/race/...) are promises too, so that a signal sent while
--    the workflow is not running can tell whether a race has abandoned its wait;
--  * params holds what a promise was requested with (task name and inputs, channel,
--    timeout error, combinator members), in the engine's PromiseRecord shape;
--  * the snapshot row remembers which promise the machine waits on, so a wake-up that
--    did not settle it costs no machine run;
--  * cancel_delivered: CancelledError is thrown into a workflow once; its catch and
--    finally blocks may then await cleanup work.

ALTER TABLE rhythm.promises DROP CONSTRAINT promises_kind_check;
ALTER TABLE rhythm.promises ADD CONSTRAINT promises_kind_check
    CHECK (kind IN ('task', 'child', 'timer', 'signal', 'combinator'));
ALTER TABLE rhythm.promises ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE rhythm.promises ADD COLUMN created_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE rhythm.promises ADD COLUMN settled_ms bigint;

-- Pending combinators of an execution (a signal checks them for abandoned waits).
CREATE INDEX promises_open_combinators ON rhythm.promises (execution_id)
    WHERE state = 'pending' AND kind = 'combinator';

ALTER TABLE rhythm.snapshots ADD COLUMN waiting_on integer;

ALTER TABLE rhythm.executions ADD COLUMN cancel_delivered boolean NOT NULL DEFAULT false;
