-- Named queries of schedules (issue 19, docs/lifecycle.md "Schedules";
-- rhythm/lifecycle/schedules.py and scheduler.py). Times come from the runtime's clock
-- (%(now)s); next ticks are computed in Python (cron and time zone), never in SQL.
-- rhythm.schedules is a small catalog (a reference table on Citus): no `part`.

-- name: schedule_lock
-- A change of one schedule (create, replace, pause, resume, delete) waits for a firing
-- of it under way, and the other way round: a transaction-scoped advisory lock on
-- (%(lock_class)s, hash of the name). It touches no table, so on Citus it is taken on
-- the coordinator, where every transaction asks for it.
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(name)s));

-- name: schedule_try_lock
-- A firing takes the same lock, or gives up at once: another worker fires it now.
SELECT pg_try_advisory_xact_lock(%(lock_class)s, hashtext(%(name)s)) AS locked;

-- name: insert_schedule
-- A new schedule; nothing when the name is taken (the caller refuses, or replaces).
INSERT INTO rhythm.schedules AS s
    (name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
     next_fire_at, last_tick, created_at, updated_at)
SELECT %(name)s, %(target_kind)s, %(target)s, %(inputs)s::json, %(cron)s, %(timezone)s,
       %(catch_up)s, %(queue)s, coalesce(%(paused)s, false), %(next_fire_at)s, NULL,
       %(now)s, %(now)s
ON CONFLICT (name) DO NOTHING
RETURNING name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
          next_fire_at, last_tick, created_at, updated_at;

-- name: replace_schedule
-- `create --replace` / `apply`: a new definition for an existing schedule. Its next
-- fire stays when the cron and the time zone do (missed ticks are then still caught up
-- as its policy says), else it is the new cron's first tick after now; last_tick stays,
-- and a NULL %(paused)s keeps the paused flag.
UPDATE rhythm.schedules AS s
SET target_kind = %(target_kind)s, target = %(target)s, inputs = %(inputs)s::json,
    cron = %(cron)s, timezone = %(timezone)s, catch_up = %(catch_up)s, queue = %(queue)s,
    paused = coalesce(%(paused)s, s.paused),
    next_fire_at = CASE WHEN s.cron = %(cron)s AND s.timezone = %(timezone)s
                        THEN s.next_fire_at ELSE %(next_fire_at)s END,
    updated_at = %(now)s
WHERE s.name = %(name)s
RETURNING name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
          next_fire_at, last_tick, created_at, updated_at;

-- name: read_schedule
SELECT name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
       next_fire_at, last_tick, created_at, updated_at
FROM rhythm.schedules WHERE name = %(name)s;

-- name: list_schedules
SELECT name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
       next_fire_at, last_tick, created_at, updated_at
FROM rhythm.schedules ORDER BY name;

-- name: schedule_names
-- ("did you mean" of an unknown schedule name)
SELECT name FROM rhythm.schedules ORDER BY name;

-- name: schedule_task_names
-- Task names some worker registered (a schedule's task must be one of them).
SELECT name FROM rhythm.task_routes ORDER BY name;

-- name: set_schedule_paused
-- Pause (%(paused)s true) or resume a schedule that is in the other state; a resumed
-- one fires next at %(next_fire_at)s (its first tick after now: the ticks of the pause
-- are not "missed", whatever the catch-up policy).
UPDATE rhythm.schedules
SET paused = %(paused)s, next_fire_at = coalesce(%(next_fire_at)s, next_fire_at),
    updated_at = %(now)s
WHERE name = %(name)s AND paused = NOT %(paused)s
RETURNING name, target_kind, target, inputs, cron, timezone, catch_up, queue, paused,
          next_fire_at, last_tick, created_at, updated_at;

-- name: delete_schedule
-- (the executions it started stay)
DELETE FROM rhythm.schedules WHERE name = %(name)s RETURNING name;

-- name: next_schedule_fire
-- When a worker's scheduler wakes next: the earliest next fire of an unpaused schedule
-- (one read of schedules_due), leaving out those this worker saw fail lately.
SELECT min(next_fire_at) AS at FROM rhythm.schedules
WHERE NOT paused AND name <> ALL (%(failing)s::text[]);

-- name: due_schedules
-- The unpaused schedules due by now, earliest first (each is then fired on its own).
SELECT name, next_fire_at FROM rhythm.schedules
WHERE NOT paused AND next_fire_at <= %(now)s AND name <> ALL (%(failing)s::text[])
ORDER BY next_fire_at, name
LIMIT %(limit)s;

-- name: due_schedule
-- The schedule to fire, under its lock: only if still unpaused and still due at the
-- tick the caller read (else another worker handled it meanwhile).
SELECT name, target_kind, target, inputs, cron, timezone, catch_up, queue
FROM rhythm.schedules
WHERE name = %(name)s AND next_fire_at = %(expected)s AND NOT paused;

-- name: advance_schedule
-- The fenced end of a firing: moves next_fire_at on only from the value the firing
-- read; no row means somebody else did, and the caller rolls its starts back.
UPDATE rhythm.schedules
SET next_fire_at = %(next_fire_at)s, last_tick = %(last_tick)s, updated_at = %(now)s
WHERE name = %(name)s AND next_fire_at = %(expected)s AND NOT paused
RETURNING name;
