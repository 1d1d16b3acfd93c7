-- Named queries of flow control (issue 18, docs/flow-control.md): task idempotency keys
-- and bulk enqueue. Same rules as runtime.sql: times come from the runtime's clock, and
-- every statement names its partition (%(part)s) in every reference to a partitioned
-- table. A keyed execution lives in the partition of its key (its id says which).

-- name: insert_keyed_execution
-- The first request of a key creates the execution; any later one (or a concurrent one,
-- which waits here for the first to commit) returns nothing: the unique index
-- executions_idempotency decides, not a read before the write. No parent: every
-- workflow that asks is a waiter (add_waiter), the first one too.
-- A task with a concurrency key waits for a slot (as in insert_execution).
WITH inserted AS (
    INSERT INTO rhythm.executions
        (part, id, kind, name, inputs, queue, priority, max_retries, options, run_at,
         idempotency_key, created_at, updated_at, concurrency_key, concurrency_limit,
         admitted)
    SELECT %(part)s, %(id)s, 'task', %(name)s, %(inputs)s::json,
           coalesce(%(queue)s, r.queue, 'default'),
           %(priority)s, %(max_retries)s, %(options)s::jsonb,
           CASE WHEN k.ckey IS NULL THEN %(now)s::timestamptz END,
           %(idempotency_key)s, %(now)s::timestamptz, %(now)s::timestamptz,
           k.ckey, (r.concurrency->>'limit')::int, CASE WHEN k.ckey IS NOT NULL THEN false END
    FROM (SELECT) one
    LEFT JOIN rhythm.task_routes r ON r.name = %(name)s
    CROSS JOIN LATERAL (
        SELECT CASE WHEN r.concurrency IS NOT NULL
                    THEN coalesce(%(inputs)s::json #>> string_to_array(r.concurrency->>'key', '.'),
                                  '') END AS ckey) k
    ON CONFLICT DO NOTHING
    RETURNING part, id, kind, name, version, status, queue, run_no, result, error,
              concurrency_key
)
SELECT id, kind, name, version, status, queue, run_no, result, error,
       CASE WHEN concurrency_key IS NULL THEN part::text || ':' || queue
            ELSE '!admit:' || concurrency_key END AS wake
FROM inserted;

-- name: lock_keyed
-- The execution that holds a key (after insert_keyed_execution found it taken).
SELECT id, kind, name, version, status, queue, run_no, result, error
FROM rhythm.executions
WHERE part = %(part)s AND name = %(name)s AND idempotency_key = %(idempotency_key)s
FOR UPDATE;

-- name: add_waiter
-- A workflow's promise that the keyed execution settles when it ends.
INSERT INTO rhythm.execution_waiters
    (part, execution_id, waiter_part, waiter_id, promise_id, created_at)
VALUES (%(part)s, %(id)s, %(waiter_part)s, %(waiter_id)s, %(promise_id)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: take_waiters
-- In the transaction that ended executions of one partition (ids): their waiters, taken
-- (deleted), each with the outcome that settles its promise.
WITH ended AS (
    SELECT id, status, result, error FROM rhythm.executions
    WHERE part = %(part)s AND id = ANY(%(ids)s::text[])
      AND status IN ('completed', 'failed', 'cancelled')
),
taken AS (
    DELETE FROM rhythm.execution_waiters w
    USING ended e
    WHERE w.part = %(part)s AND w.execution_id = e.id
    RETURNING w.execution_id, w.waiter_part, w.waiter_id, w.promise_id
)
SELECT t.waiter_part, t.waiter_id, t.promise_id, e.status, e.result, e.error
FROM taken t JOIN ended e ON e.id = t.execution_id
ORDER BY t.waiter_part, t.waiter_id, t.promise_id;

-- name: settle_waiter_promises
-- Waiters of one partition (rows from take_waiters): each promise settles with the
-- keyed execution's outcome (as settle_parents does for a parent) and its workflow is
-- woken. A workflow that ended meanwhile has no pending promise: nothing happens.
WITH settled AS (
    UPDATE rhythm.promises p
    SET state = CASE WHEN r.status = 'completed' THEN 'resolved' ELSE 'rejected' END,
        value = CASE WHEN r.status = 'completed' THEN r.result ELSE r.error END,
        settled_at = %(now)s,
        settled_ms = floor(extract(epoch FROM %(now)s::timestamptz) * 1000)::bigint
    FROM json_to_recordset(%(rows)s::json)
         AS r(waiter_id text, promise_id int, status text, result json, error json)
    WHERE p.part = %(part)s AND p.execution_id = r.waiter_id
      AND p.promise_id = r.promise_id AND p.state = 'pending'
    RETURNING p.execution_id
),
woken AS (
    UPDATE rhythm.executions w
    SET wake_seq = w.wake_seq + 1,
        run_at = CASE WHEN w.status = 'suspended' THEN %(now)s::timestamptz ELSE w.run_at END,
        updated_at = %(now)s
    FROM (SELECT DISTINCT execution_id FROM settled) s
    WHERE w.part = %(part)s AND w.id = s.execution_id
    RETURNING w.part, w.queue, w.run_at
)
SELECT DISTINCT part::text || ':' || queue AS wake FROM woken WHERE run_at IS NOT NULL;

-- name: archive_keyed_run
-- Keeps the history of an ended run of a key before the key runs again (runs_again).
INSERT INTO rhythm.execution_runs
    (part, id, run_no, status, inputs, result, error, attempt, created_at, finished_at)
SELECT part, id, run_no, status, inputs, result, error, attempt, created_at, finished_at
FROM rhythm.executions
WHERE part = %(part)s AND id = %(id)s AND status IN ('completed', 'failed', 'cancelled');

-- name: restart_keyed_execution
-- The key's execution runs again as a new run, with the new request's inputs.
UPDATE rhythm.executions
SET status = 'pending', inputs = %(inputs)s::json, result = NULL, error = NULL,
    priority = %(priority)s, max_retries = %(max_retries)s, options = %(options)s::jsonb,
    queue = coalesce(%(queue)s,
                     (SELECT r.queue FROM rhythm.task_routes r
                      WHERE r.name = executions.name),
                     'default'),
    attempt = 0, lease_losses = 0, claimed_by = NULL,
    -- (a run of a concurrency key waits for a slot again)
    run_at = CASE WHEN concurrency_key IS NULL THEN %(now)s::timestamptz END,
    admitted = CASE WHEN concurrency_key IS NOT NULL THEN false END,
    lease_expires_at = NULL, cancel_requested = false, run_no = run_no + 1,
    created_at = %(now)s, started_at = NULL, finished_at = NULL, updated_at = %(now)s
WHERE part = %(part)s AND id = %(id)s AND status IN ('completed', 'failed', 'cancelled')
RETURNING id, kind, name, version, status, queue, run_no,
          CASE WHEN concurrency_key IS NULL THEN part::text || ':' || queue
               ELSE '!admit:' || concurrency_key END AS wake;

-- name: insert_executions
-- Bulk enqueue (client.queue_tasks / start_many): every row of %(batch)s (a JSON array,
-- each row with its own partition, computed from its id) in ONE statement; a workflow
-- takes the current version of its name, or waits for one (as insert_execution). A row
-- whose id exists already is left as it is. One row back per queue woken (wake NULL: the
-- workflows that wait for a version), with how many rows went there. Routes and versions
-- are looked up once per distinct name (hash joins), not once per row. (Rows of several
-- partitions: on Citus an INSERT ... SELECT that the coordinator routes row by row.)
-- Each workflow's history (0015) begins here, as in insert_execution: its `started`
-- entry, seq 1, by this same statement (started), for the rows inserted only.
-- %(options)s: the options of every row (the caller's traceparent), or NULL for none.
WITH names AS MATERIALIZED (
    -- (%(names)s: the distinct names of the batch, all of kind %(kind)s)
    SELECT n.name, t.queue AS route, t.concurrency,
           (SELECT w.version FROM rhythm.workflow_versions w
            WHERE w.name = n.name AND %(kind)s = 'workflow'
            ORDER BY w.registered_at DESC LIMIT 1) AS version
    FROM unnest(%(names)s::text[]) AS n(name)
    LEFT JOIN rhythm.task_routes t ON t.name = n.name AND %(kind)s = 'task'
),
inserted AS (
    INSERT INTO rhythm.executions
        (part, id, kind, name, version, inputs, queue, priority, max_retries, run_at,
         created_at, updated_at, concurrency_key, concurrency_limit, admitted, history_seq,
         options)
    SELECT r.part, r.id, r.kind, r.name, n.version, r.inputs,
           coalesce(r.queue, n.route, 'default'), r.priority, r.max_retries,
           CASE WHEN k.ckey IS NOT NULL THEN NULL
                WHEN r.kind = 'workflow' AND n.version IS NULL THEN NULL
                ELSE %(now)s::timestamptz END,
           %(now)s, %(now)s, k.ckey, (n.concurrency->>'limit')::int,
           CASE WHEN k.ckey IS NOT NULL THEN false END, (r.kind = 'workflow')::int,
           coalesce(%(options)s::jsonb, '{}'::jsonb)
    FROM json_to_recordset(%(batch)s::json)
         AS r(part int, id text, kind text, name text, inputs json, queue text,
              priority int, max_retries int)
    JOIN names n ON n.name = r.name
    -- (a task whose route has a concurrency key waits for a slot, as in insert_execution)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN n.concurrency IS NOT NULL
                    THEN coalesce(r.inputs #>> string_to_array(n.concurrency->>'key', '.'), '')
               END AS ckey) k
    ON CONFLICT DO NOTHING
    RETURNING part, id, kind, name, version, run_no, queue, run_at, concurrency_key
),
started AS (
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT id, 1, part, %(now)s, 'started',
           json_build_object('name', name, 'version', version, 'run_no', run_no)::jsonb
    FROM inserted WHERE kind = 'workflow'
)
SELECT w.wake, count(*) AS n,
       CASE WHEN %(notify)s AND w.wake IS NOT NULL THEN pg_notify('rhythm_wake', w.wake) END
FROM inserted i
CROSS JOIN LATERAL (SELECT CASE WHEN i.run_at IS NOT NULL
                                THEN i.part::text || ':' || i.queue
                                WHEN i.concurrency_key IS NOT NULL
                                THEN '!admit:' || i.concurrency_key END AS wake) w
GROUP BY w.wake;
