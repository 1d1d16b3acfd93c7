-- Named queries of retention and cleanup (issue 19, docs/lifecycle.md "Retention and
-- cleanup"; rhythm/lifecycle/retention.py). Times come from the caller's clock
-- (%(now)s); every statement names its partition. Ended = completed, failed, cancelled.

-- name: read_retention
-- The queues whose retention differs from the defaults (NULL: the default; -1: never).
SELECT name, task_retention_s, workflow_retention_s FROM rhythm.queues
WHERE task_retention_s IS NOT NULL OR workflow_retention_s IS NOT NULL
ORDER BY name;

-- name: cleanup_lock
-- One cleaner at a time across all workers and `rhythm cleanup`: each batch's
-- transaction tries this lock and does nothing when another holds it. Transaction-scoped,
-- so that it works through PgBouncer's transaction pooling and a cleaner that dies
-- holds nothing.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: cleanup_candidates
-- Up to %(limit)s ended executions of one partition whose retention has passed, oldest
-- first, after (%(after)s, %(after_id)s) (where the previous batch stopped: live rows
-- created long ago are not read again by every batch, and a dry run pages through).
-- created_at < %(created_before)s (now minus the shortest retention that applies) is a
-- necessary condition of the finished_at test, and serves as the range of
-- executions_created, so that no index on finished_at costs every completion. Retention per row: %(older_than_s)s when given (`rhythm cleanup
-- --older-than`), else its queue's setting for its kind, else the default of its kind;
-- -1 keeps it forever. Filters (NULL: any): %(kind)s, %(statuses)s, %(queue)s, %(name)s.
-- An ended workflow with a live child (task or workflow) is kept. Ended children of a
-- live workflow go by their own retention: their outcome is in the parent's promise (or
-- was used and forgotten), and nothing reads their row again.
SELECT e.id, e.kind, e.status, e.run_no, e.finished_at, e.created_at
FROM rhythm.executions e
LEFT JOIN rhythm.queues q ON q.name = e.queue
CROSS JOIN LATERAL (
    SELECT coalesce(%(older_than_s)s::bigint,
                    CASE WHEN e.kind = 'task'
                         THEN coalesce(q.task_retention_s, %(task_s)s::bigint)
                         ELSE coalesce(q.workflow_retention_s, %(workflow_s)s::bigint) END)
               AS keep_s) r
WHERE e.part = %(part)s
  AND e.created_at < %(created_before)s AND e.created_at >= %(after)s
  AND (e.created_at, e.id) > (%(after)s::timestamptz, %(after_id)s::text)
  AND e.status IN ('completed', 'failed', 'cancelled')
  AND (%(kind)s::text IS NULL OR e.kind = %(kind)s::text)
  AND (%(statuses)s::text[] IS NULL OR e.status = ANY(%(statuses)s::text[]))
  AND (%(queue)s::text IS NULL OR e.queue = %(queue)s::text)
  AND (%(name)s::text IS NULL OR e.name = %(name)s::text)
  AND r.keep_s >= 0
  AND e.finished_at < %(now)s::timestamptz - r.keep_s * interval '1 second'
  -- (a scalar sub-select, not NOT EXISTS: that one was planned as an anti-join over
  -- every live execution of the partition; this one is a probe of executions_parent)
  AND (e.kind = 'task'
       OR NOT coalesce((SELECT true FROM rhythm.executions c
                        WHERE c.part = %(part)s AND c.parent_id = e.id
                          AND c.status IN ('pending', 'running', 'suspended')
                        LIMIT 1), false))
ORDER BY e.created_at, e.id
LIMIT %(limit)s;

-- name: cleanup_delete
-- Deletes the candidates (ids, run_nos, finished: what cleanup_candidates returned)
-- that are still exactly as they were chosen: ended, same run, same finished_at (a row
-- started again meanwhile - a reused id, a retry, a key run again - is left alone).
-- Its snapshot, promises, signals and execution_waiters rows go with it through their
-- foreign keys (ON DELETE CASCADE, each found by a key on the execution id: for signals
-- signals_execution, 0014); its earlier runs (execution_runs, no foreign key) here. Its
-- idempotency key is a column of the row: free again once it is gone. Returns how many
-- went, by kind and status.
WITH chosen AS (
    SELECT * FROM unnest(%(ids)s::text[], %(run_nos)s::int[], %(finished)s::timestamptz[])
        AS c(id, run_no, finished_at)
),
gone AS (
    DELETE FROM rhythm.executions e
    USING chosen c
    WHERE e.part = %(part)s AND e.id = ANY(%(ids)s::text[])
      AND e.id = c.id AND e.run_no = c.run_no AND e.finished_at = c.finished_at
      AND e.status IN ('completed', 'failed', 'cancelled')
    RETURNING e.id, e.kind, e.status
),
runs AS (
    DELETE FROM rhythm.execution_runs r
    WHERE r.part = %(part)s AND r.id = ANY(ARRAY(SELECT id FROM gone))
),
history AS (
    -- Their history (0015) goes with them, found through its key (execution_id, ...).
    -- No foreign key: its check would cost every entry, i.e. every step.
    DELETE FROM rhythm.history h
    WHERE h.part = %(part)s AND h.execution_id = ANY(ARRAY(SELECT id FROM gone))
)
SELECT kind, status, count(*) AS n FROM gone GROUP BY kind, status ORDER BY kind, status;
