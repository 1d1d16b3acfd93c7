-- Schedules (issue 19, docs/lifecycle.md "Schedules"): a workflow or task started on a
-- cron expression. One row per schedule; workers fire it (rhythm/lifecycle/schedules.py).
--
-- `next_fire_at` is the durable timer: the next tick (UTC) that has not been handled
-- yet. Every worker sleeps until the earliest one of an unpaused schedule
-- (`schedules_due`), and a firing advances it with a fenced UPDATE (`WHERE
-- next_fire_at = the value it read`), so two workers never handle one tick twice; the
-- executions a tick starts have ids made of the schedule's name and the tick, so even a
-- race would make one row. `last_tick` is the last tick handled (started or skipped by
-- the catch-up policy). `inputs` is json (not jsonb): its key order is kept, as for
-- executions (0005).
CREATE TABLE rhythm.schedules (
    name          text PRIMARY KEY,
    target_kind   text NOT NULL CHECK (target_kind IN ('workflow', 'task')),
    target        text NOT NULL,
    inputs        json NOT NULL,
    cron          text NOT NULL,
    timezone      text NOT NULL DEFAULT 'UTC',
    catch_up      text NOT NULL DEFAULT 'once' CHECK (catch_up IN ('skip', 'once', 'all')),
    queue         text,
    paused        boolean NOT NULL DEFAULT false,
    next_fire_at  timestamptz NOT NULL,
    last_tick     timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- (the earliest next fire of an unpaused schedule is one index read)
CREATE INDEX schedules_due ON rhythm.schedules (next_fire_at) WHERE NOT paused;

-- A small catalog: a reference table on Citus (as queues, 0011). A database already
-- distributed takes it at once; a plain one leaves it to distribute_tables.
DO $$
BEGIN
    IF (SELECT citus FROM rhythm.installation) THEN
        PERFORM create_reference_table('rhythm.schedules');
    END IF;
END
$$;
