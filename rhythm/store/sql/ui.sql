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
