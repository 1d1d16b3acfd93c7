-- Named queries of the dashboard (rhythm.ui, docs/ui.md): the reads its pages need that
-- no operation has. Every statement about an execution names its partition; each is one
-- short read, so a page costs a handful of index lookups whatever the table size.

-- name: ui_children
-- The tasks and child workflows an execution started (its partition holds its whole
-- tree), oldest first, through executions_parent; at most %(limit)s.
SELECT id, kind, name, status, attempt, created_at, finished_at
FROM rhythm.executions
WHERE part = %(part)s AND parent_id = %(id)s
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: ui_pending_promises
-- What a workflow waits on now: its pending promises (combinators aside), with the
-- target's status for tasks and children (same partition).
SELECT p.promise_id, p.kind, p.target, p.due_at, p.created_at, e.status AS target_status,
       e.name AS target_name, e.attempt AS target_attempt
FROM rhythm.promises p
LEFT JOIN rhythm.executions e
       ON e.part = p.part AND e.id = p.target AND p.kind IN ('task', 'child')
WHERE p.part = %(part)s AND p.execution_id = %(id)s AND p.state = 'pending'
  AND p.kind <> 'combinator'
ORDER BY p.promise_id
LIMIT %(limit)s;

-- name: ui_buffered_signals
-- Signals sent to an execution that no wait has taken yet, oldest first.
SELECT id, channel, payload, sent_at
FROM rhythm.signals
WHERE part = %(part)s AND execution_id = %(id)s AND consumed_by IS NULL
ORDER BY id
LIMIT %(limit)s;

-- name: ui_workers
-- Registered workers, newest heartbeat first, with the executions each holds a claim on
-- (running rows only: executions_leases is partial on them, so the count reads no more
-- than what runs now). Reads every partition, as queue_overview does.
WITH holding AS (
    SELECT claimed_by, count(*) AS running
    FROM rhythm.executions
    WHERE status = 'running' AND claimed_by IS NOT NULL
    GROUP BY claimed_by
)
SELECT w.id, w.host, w.pid, w.queues, w.started_at, w.heartbeat_at,
       coalesce(h.running, 0) AS running
FROM rhythm.workers w
LEFT JOIN holding h ON h.claimed_by = w.id
ORDER BY w.heartbeat_at DESC, w.id;

-- The queues page (rhythm/ui/queues.py, docs/ui.md "Queues"). `rhythm queue list`
-- (queue_overview) counts every live execution exactly, a read of the whole table; the
-- page reads the indexes the claim path keeps anyway instead, and estimates the one
-- figure no index holds. No statement here writes, and none adds a write elsewhere.

-- name: ui_queue_settings
-- Every queue known without reading executions: task routes, settings, the queues
-- workers poll; with its settings and the rate limits of the task names routed to it.
WITH routed AS (
    SELECT queue, string_agg(name || '=' || rate_limit, ', ' ORDER BY name) AS task_limits
    FROM rhythm.task_routes
    WHERE rate_limit IS NOT NULL
    GROUP BY queue
),
names AS (
    SELECT queue AS name FROM rhythm.task_routes
    UNION SELECT name FROM rhythm.queues
    UNION SELECT unnest(queues) FROM rhythm.workers
)
SELECT n.name, q.rate_limit, coalesce(q.paused, false) AS paused, r.task_limits
FROM names n
LEFT JOIN rhythm.queues q ON q.name = n.name
LEFT JOIN routed r ON r.queue = n.name;

-- name: ui_queue_running
-- Rows a worker holds, per queue, through executions_leases (partial on 'running').
SELECT queue, count(*) AS running
FROM rhythm.executions
WHERE status = 'running'
GROUP BY queue;

-- name: ui_queue_held
-- Pending rows nothing may claim yet, per queue: waiting for a concurrency slot
-- (executions_concurrency) or for a version of their workflow (executions_awaiting_version);
-- both indexes are partial and hold only such rows.
SELECT queue, count(*) AS held
FROM rhythm.executions
WHERE status = 'pending' AND run_at IS NULL
  AND ((concurrency_key IS NOT NULL AND admitted = false)
       OR (kind = 'workflow' AND version IS NULL))
GROUP BY queue;

-- name: ui_executions_pages
-- The table's size in pages now (a look at its files, not a scan): decides whether the
-- suspended count is exact or sampled.
SELECT pg_relation_size('rhythm.executions') / current_setting('block_size')::bigint
       AS pages;

-- name: ui_queue_suspended
-- Workflows suspended and waiting (not woken: a woken one is claimable, counted above),
-- per queue, exactly: no index holds them, so this reads the whole table (a small one,
-- or on Citus, where the shards count in parallel).
SELECT queue, count(*) AS suspended
FROM rhythm.executions
WHERE status = 'suspended' AND run_at IS NULL
GROUP BY queue;

-- name: ui_queue_suspended_sample
-- The same counted in a sample of %(percent)s percent of the table's pages (TABLESAMPLE
-- SYSTEM: whole pages picked at random); the caller scales it up and says it estimated.
SELECT queue, count(*) AS suspended
FROM rhythm.executions TABLESAMPLE SYSTEM (%(percent)s)
WHERE status = 'suspended' AND run_at IS NULL
GROUP BY queue;

-- name: ui_queue_finished
-- Executions that ended since %(since)s, per queue, among the %(cap)s newest created
-- since %(horizon)s (executions_created, newest first: there is no index on finished_at,
-- which would cost every completion). `walked` is how many rows were read: the cap
-- reached means older rows went unread and the count is a lower bound.
WITH newest AS (
    SELECT queue, status, finished_at
    FROM rhythm.executions
    WHERE created_at >= %(horizon)s
    ORDER BY created_at DESC, id
    LIMIT %(cap)s
)
SELECT queue,
       count(*) FILTER (WHERE finished_at >= %(since)s
                          AND status IN ('completed', 'failed', 'cancelled')) AS finished,
       (SELECT count(*) FROM newest) AS walked
FROM newest
GROUP BY queue;
