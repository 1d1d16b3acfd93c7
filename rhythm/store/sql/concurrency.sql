-- Named queries of per-key concurrency (issue 18, docs/flow-control.md; schema in
-- migrations/0010). Executions with a concurrency key are born waiting (admitted false,
-- run_at NULL); an admission gives the free slots of a key to its oldest waiting rows.
-- It is two statements in one transaction: lock_concurrency_keys first, then
-- admit_waiting, whose snapshot (taken after the locks were granted) sees every slot
-- freed and every row queued by transactions that committed before - a single statement
-- could not count safely (its snapshot would predate a lock it waited for). These
-- statements span partitions (a key's executions may be in any): plain Postgres only.

-- name: lock_concurrency_keys
-- Serialises admissions of the same keys (to the end of the transaction), in key order:
-- two admitters never deadlock.
SELECT count(pg_advisory_xact_lock(1937, hashtext(k)))
FROM (SELECT DISTINCT unnest(%(keys)s::text[]) AS k ORDER BY 1) AS keys;

-- name: admit_waiting
-- Per key: the slots held (admitted rows not ended), the limit (the oldest waiting
-- row's), and the oldest waiting rows that fit, in the order they were queued, become
-- claimable now (a workflow whose name has no version yet stays unclaimable: it waits
-- for one as in 0007, holding its slot). Tasks on the admitting worker's %(queues)s, up
-- to %(room)s of them, are claimed for it at once (fresh token, lease, attempt: as the
-- claim statement leaves them), so that it starts them without a NOTIFY and a claim
-- round trip (a key's next task usually follows on the worker that ran the last);
-- the others are announced to every worker. One row per admitted execution: `claim`
-- (what Claim.from_row reads) when taken, else its `wake`.
WITH keys AS (
    SELECT k.key,
           (SELECT count(*) FROM rhythm.executions e
            WHERE e.concurrency_key = k.key AND e.admitted
              AND e.status IN ('pending', 'running', 'suspended')) AS held,
           (SELECT e.concurrency_limit FROM rhythm.executions e
            WHERE e.concurrency_key = k.key AND NOT e.admitted AND e.status = 'pending'
            ORDER BY e.created_at, e.id LIMIT 1) AS lim
    FROM (SELECT DISTINCT unnest(%(keys)s::text[]) AS key) k
),
chosen AS MATERIALIZED (
    SELECT c.part, c.id,
           c.kind = 'task' AND c.queue = ANY(%(queues)s::text[])
           AND row_number() OVER (ORDER BY c.kind = 'task' AND c.queue = ANY(%(queues)s::text[]) DESC)
               <= %(room)s AS take
    FROM keys k
    CROSS JOIN LATERAL (
        SELECT e.part, e.id, e.kind, e.queue FROM rhythm.executions e
        WHERE e.concurrency_key = k.key AND NOT e.admitted AND e.status = 'pending'
        ORDER BY e.created_at, e.id
        LIMIT greatest(k.lim - k.held, 0)
    ) c
    WHERE k.lim IS NOT NULL
),
admitted AS (
    -- (Each admitted row found by its id, = ANY of an array, and whether it is taken by
    -- = ANY of another: a join with `chosen` was planned as a hash join over a scan of
    -- every execution once the statistics were real, or as a loop over `chosen` per row.)
    UPDATE rhythm.executions e
    SET admitted = true,
        status = CASE WHEN e.id = ANY(taken.ids) THEN 'running' ELSE e.status END,
        run_at = CASE WHEN e.id = ANY(taken.ids) THEN NULL
                      WHEN e.kind = 'workflow' AND e.version IS NULL
                           AND NOT EXISTS (SELECT FROM rhythm.workflow_versions v
                                           WHERE v.name = e.name)
                      THEN NULL ELSE %(now)s::timestamptz END,
        claim_token = e.claim_token + (e.id = ANY(taken.ids))::int,
        claimed_by = CASE WHEN e.id = ANY(taken.ids) THEN %(worker)s ELSE e.claimed_by END,
        lease_expires_at = CASE WHEN e.id = ANY(taken.ids) THEN %(lease_until)s::timestamptz
                                ELSE e.lease_expires_at END,
        attempt = e.attempt + (e.id = ANY(taken.ids))::int,
        started_at = CASE WHEN e.id = ANY(taken.ids) THEN coalesce(e.started_at, %(now)s)
                          ELSE e.started_at END,
        updated_at = %(now)s
    FROM (SELECT ARRAY(SELECT id FROM chosen WHERE take) AS ids) taken
    WHERE e.id = ANY(ARRAY(SELECT id FROM chosen)) AND e.status = 'pending' AND NOT e.admitted
    RETURNING e.id = ANY(taken.ids) AS take, e.part, e.id, e.kind, e.name, e.version, e.inputs, e.queue,
              e.attempt, e.max_retries, e.lease_losses, NULLIF(e.options, '{}') AS options,
              e.claim_token, e.cancel_requested, e.parent_id, e.parent_promise, e.wake_seq,
              CASE WHEN NOT e.id = ANY(taken.ids) AND e.run_at IS NOT NULL
                   THEN e.part::text || ':' || e.queue END AS wake
)
SELECT a.wake, CASE WHEN a.take THEN to_json(a) END AS claim,
       CASE WHEN %(notify)s AND a.wake IS NOT NULL THEN pg_notify('rhythm_wake', a.wake) END
FROM admitted a;

-- name: waiting_concurrency_keys
-- The keys with rows waiting for a slot (the workers' backstop sweep: a slot freed by a
-- transaction whose '!admit' notification was lost is found here).
SELECT DISTINCT concurrency_key AS key FROM rhythm.executions
WHERE concurrency_key IS NOT NULL AND status = 'pending' AND NOT admitted
LIMIT 10000;

-- name: key_queued_tasks
-- Tasks queued before any worker registered their route (so without its key) take it
-- now, in the transaction of the registration: pending rows not yet claimed wait for a
-- slot like any other. Run at a worker's start, for its tasks that have a key; spans
-- partitions (as release_waiting_starts). One row back per key, announced.
WITH keyed AS (
    UPDATE rhythm.executions e
    SET concurrency_key = coalesce(e.inputs #>> string_to_array(r.concurrency->>'key', '.'), ''),
        concurrency_limit = (r.concurrency->>'limit')::int,
        admitted = false, run_at = NULL, updated_at = %(now)s
    FROM rhythm.task_routes r
    -- (read through executions_ready: the ready rows of the task's queue, partition by
    -- partition; nothing else of the table)
    WHERE r.name = ANY(%(names)s::text[]) AND r.concurrency IS NOT NULL
      AND e.part = ANY(ARRAY(SELECT generate_series(0, i.partitions - 1)
                             FROM rhythm.installation i))
      AND e.queue = r.queue AND e.run_at IS NOT NULL
      AND e.name = r.name AND e.kind = 'task' AND e.status = 'pending'
      AND e.concurrency_key IS NULL
    RETURNING e.concurrency_key
)
SELECT w.wake, count(pg_notify('rhythm_wake', w.wake)) AS sent
FROM (SELECT DISTINCT '!admit:' || concurrency_key AS wake FROM keyed) w
GROUP BY w.wake;
