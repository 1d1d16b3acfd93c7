-- Named queries of the durable runtime (rhythm.runtime). One query per operation.
-- Placeholders are psycopg's %(name)s; times always come from the runtime's clock
-- (never now()) so that tests can pin it. Every transition of a claimed row names the
-- status and claim_token it expects: a stale claim matches no row and changes nothing.
--
-- Partitions (0008, docs/scaling.md): every statement names the partition it works in,
-- %(part)s, in every reference to a partitioned table, so that Citus routes it to one
-- shard. Notifications: a statement that wakes a queue or ends an execution returns
-- `wake` ('part:queue') and `done` (the id) and sends them itself when %(notify)s is
-- true (plain Postgres); on Citus (false) the application sends them through the
-- coordinator (rhythm.runtime.notices), since a routed statement would run pg_notify on
-- the worker node where nobody listens.

-- name: insert_execution
-- Idempotent insert: returns nothing when the id exists (the caller then looks at it).
-- A task's queue and concurrency key come from its route (the key: a dotted path into
-- the inputs, '' when they lack it); a workflow's key is the caller's. A row with a key
-- is born waiting for a slot (admitted false, run_at NULL, wake '!admit:KEY': workers
-- admit it, concurrency.sql). A workflow's history (0015) begins here: its `started`
-- entry, seq 1, in the same statement.
WITH route AS (
    SELECT r.queue, r.concurrency FROM rhythm.task_routes r
    WHERE r.name = %(name)s AND %(kind)s = 'task'
),
keyed AS (
    SELECT coalesce(%(concurrency_key)s,
                    CASE WHEN c IS NOT NULL
                         THEN coalesce(%(inputs)s::json #>> string_to_array(c->>'key', '.'),
                                       '') END) AS ckey,
           coalesce(%(concurrency_limit)s, (c->>'limit')::int) AS climit
    FROM (SELECT (SELECT concurrency FROM route) AS c) s
),
inserted AS (
    INSERT INTO rhythm.executions
        (part, id, kind, name, version, inputs, queue, priority, max_retries, options,
         run_at, parent_id, parent_promise, created_at, updated_at,
         concurrency_key, concurrency_limit, admitted, history_seq)
    -- (SELECT, not VALUES: Citus takes no sub-query in an INSERT's VALUES)
    SELECT %(part)s, %(id)s, %(kind)s, %(name)s, %(version)s, %(inputs)s::json,
           coalesce(%(queue)s, (SELECT queue FROM route), 'default'),
           %(priority)s, %(max_retries)s, %(options)s::jsonb,
           -- a workflow with no version registered yet waits, unclaimable (0007)
           CASE WHEN k.ckey IS NOT NULL THEN NULL
                WHEN %(kind)s = 'workflow' AND %(version)s::text IS NULL THEN NULL
                ELSE %(now)s::timestamptz END,
           %(parent_id)s, %(parent_promise)s, %(now)s::timestamptz, %(now)s::timestamptz,
           k.ckey, k.climit, CASE WHEN k.ckey IS NOT NULL THEN false END,
           (%(kind)s = 'workflow')::int
    FROM keyed k
    ON CONFLICT (id, part) DO NOTHING
    RETURNING part, id, kind, name, version, status, queue, run_no, run_at, concurrency_key
),
started AS (
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT id, 1, part, %(now)s, 'started',
           json_build_object('name', name, 'version', version, 'run_no', run_no)::jsonb
    FROM inserted WHERE kind = 'workflow'
)
SELECT id, kind, name, version, status, queue, run_no, w.wake,
       CASE WHEN %(notify)s AND w.wake IS NOT NULL THEN pg_notify('rhythm_wake', w.wake) END
FROM inserted
CROSS JOIN LATERAL (SELECT CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
                                WHEN concurrency_key IS NOT NULL
                                THEN '!admit:' || concurrency_key END AS wake) w;

-- name: enqueue_route
-- On Citus, the first of the statements insert_execution becomes there
-- (rhythm.runtime.routed): where the execution goes - its queue, its concurrency key and
-- limit, worked out as insert_execution's route and keyed do (keep the two in step) -
-- read on the coordinator (task_routes is a reference table), so that the insert after
-- it is one that Citus routes to the execution's node whole.
WITH route AS (
    SELECT r.queue, r.concurrency FROM rhythm.task_routes r
    WHERE r.name = %(name)s AND %(kind)s = 'task'
)
SELECT coalesce(%(queue)s, (SELECT queue FROM route), 'default') AS queue,
       coalesce(%(concurrency_key)s,
                CASE WHEN c IS NOT NULL
                     THEN coalesce(%(inputs)s::json #>> string_to_array(c->>'key', '.'),
                                   '') END) AS ckey,
       coalesce(%(concurrency_limit)s, (c->>'limit')::int) AS climit
FROM (SELECT (SELECT concurrency FROM route) AS c) s;

-- name: insert_execution_routed
-- insert_execution's insert on Citus, with what enqueue_route read: a plain INSERT ...
-- VALUES, which Citus sends to the execution's node whole (an INSERT ... SELECT that
-- reads no distributed table goes through the coordinator, and an INSERT in a CTE is a
-- round trip of its own). Idempotent: no row back when the id exists. A workflow's
-- `started` entry follows as insert_started_entry, in the same transaction.
INSERT INTO rhythm.executions
    (part, id, kind, name, version, inputs, queue, priority, max_retries, options,
     run_at, parent_id, parent_promise, created_at, updated_at,
     concurrency_key, concurrency_limit, admitted, history_seq)
VALUES (%(part)s, %(id)s, %(kind)s, %(name)s, %(version)s, %(inputs)s::json, %(queue)s,
        %(priority)s, %(max_retries)s, %(options)s::jsonb,
        CASE WHEN %(ckey)s::text IS NOT NULL THEN NULL
             WHEN %(kind)s = 'workflow' AND %(version)s::text IS NULL THEN NULL
             ELSE %(now)s::timestamptz END,
        %(parent_id)s, %(parent_promise)s, %(now)s::timestamptz, %(now)s::timestamptz,
        %(ckey)s, %(climit)s, CASE WHEN %(ckey)s::text IS NOT NULL THEN false END,
        (%(kind)s = 'workflow')::int)
ON CONFLICT (id, part) DO NOTHING
RETURNING id, kind, name, version, status, queue, run_no,
          CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
               WHEN concurrency_key IS NOT NULL THEN '!admit:' || concurrency_key END AS wake;

-- name: insert_started_entry
-- A workflow's first history entry (seq 1), after insert_execution_routed created it: on
-- plain Postgres insert_execution writes it in its CTE `started` (the same detail).
INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
VALUES (%(id)s, 1, %(part)s, %(now)s, 'started',
        json_build_object('name', %(name)s::text, 'version', %(version)s::text,
                          'run_no', %(run_no)s::int)::jsonb);

-- name: lock_execution
SELECT id, kind, name, version, status, queue, run_no
FROM rhythm.executions
WHERE part = %(part)s AND id = %(id)s
FOR UPDATE;

-- name: archive_run
-- Keeps the history of a failed or cancelled run before its id is started again
-- (one id, or a bulk retry's page of one partition).
INSERT INTO rhythm.execution_runs
    (part, id, run_no, status, inputs, result, error, attempt, created_at, finished_at)
SELECT part, id, run_no, status, inputs, result, error, attempt, created_at, finished_at
FROM rhythm.executions
WHERE part = %(part)s AND id = ANY(%(ids)s::text[]) AND status IN ('failed', 'cancelled');

-- name: clear_run_state
-- The effects, snapshot and signals of the previous run go with it.
WITH s AS (DELETE FROM rhythm.snapshots
           WHERE part = %(part)s AND execution_id = ANY(%(ids)s::text[])),
     p AS (DELETE FROM rhythm.promises
           WHERE part = %(part)s AND execution_id = ANY(%(ids)s::text[]))
DELETE FROM rhythm.signals WHERE part = %(part)s AND execution_id = ANY(%(ids)s::text[]);

-- name: restart_execution
UPDATE rhythm.executions
SET status = 'pending', inputs = %(inputs)s::json, result = NULL, error = NULL,
    version = %(version)s, priority = %(priority)s, max_retries = %(max_retries)s,
    options = %(options)s::jsonb,
    queue = coalesce(%(queue)s,
                     (SELECT r.queue FROM rhythm.task_routes r
                      WHERE r.name = executions.name AND executions.kind = 'task'),
                     'default'),
    attempt = 0, lease_losses = 0,
    -- (a run of a concurrency key waits for a slot again, as at its insert)
    run_at = CASE WHEN concurrency_key IS NOT NULL THEN NULL
                  WHEN kind = 'workflow' AND %(version)s::text IS NULL THEN NULL
                  ELSE %(now)s::timestamptz END,
    admitted = CASE WHEN concurrency_key IS NOT NULL THEN false END,
    claimed_by = NULL,
    lease_expires_at = NULL, cancel_requested = false, run_no = run_no + 1,
    created_at = %(now)s, started_at = NULL, finished_at = NULL, updated_at = %(now)s
WHERE part = %(part)s AND id = %(id)s AND status IN ('failed', 'cancelled')
RETURNING id, kind, name, version, status, queue, run_no,
          CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
               WHEN concurrency_key IS NOT NULL THEN '!admit:' || concurrency_key END AS wake;

-- name: claim
-- One statement: pick up to %(limit)s ready rows of one queue in one partition - tasks
-- only of the names in %(names)s, the worker's (NULL: any) -, skipping rows that other
-- workers hold, and take them with a fresh fencing token. The pick is a
-- MATERIALIZED CTE so that it runs once whatever the plan: a sub-select on the inner
-- side of a nested loop would be re-run per outer row, and each re-run locks the next
-- rows (a generic plan did that once `part` led the keys: 20 rows for a limit of 1).
-- The rows come back in the order picked (the worker starts them in that order).
WITH ready AS MATERIALIZED (
    SELECT id, run_at, row_number() OVER () AS pick FROM (
        SELECT id, run_at FROM rhythm.executions
        WHERE part = %(part)s AND queue = %(queue)s AND run_at IS NOT NULL
          AND run_at <= %(now)s AND kind = ANY(%(kinds)s::text[])
          -- routing: only tasks this worker has (NULL: any); a filter on the rows the
          -- index walk reads anyway
          AND (kind = 'workflow' OR %(names)s::text[] IS NULL
               OR name = ANY(%(names)s::text[]))
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED) picked
),
claimed AS (
    UPDATE rhythm.executions e
    SET status = 'running',
        run_at = NULL,
        claim_token = e.claim_token + 1,
        -- a workflow started before any version of its name existed takes the current one
        version = CASE WHEN e.version IS NULL AND e.kind = 'workflow'
                       THEN (SELECT v.version FROM rhythm.workflow_versions v
                             WHERE v.name = e.name ORDER BY v.registered_at DESC LIMIT 1)
                       ELSE e.version END,
        claimed_by = %(worker)s,
        lease_expires_at = %(lease_until)s,
        attempt = e.attempt + CASE WHEN e.kind = 'task' THEN 1 ELSE 0 END,
        started_at = coalesce(e.started_at, %(now)s),
        updated_at = %(now)s
    FROM ready
    WHERE e.part = %(part)s AND e.id = ready.id
    RETURNING e.id, e.kind, e.name, e.version, e.inputs, e.queue, e.attempt,
              e.max_retries,
              -- Usually {}: no JSON to parse per claimed row then (the worker reads NULL
              -- as {}).
              e.lease_losses, NULLIF(e.options, '{}') AS options, e.claim_token,
              e.cancel_requested, e.parent_id, e.parent_promise, e.wake_seq, e.part,
              -- A workflow with nothing saved yet (no snapshot: no activation committed,
              -- so no promises either; no buffered signal) needs no load: its activation
              -- starts from this row alone, without a round trip or a pooled connection.
              -- (Workflows only: a task's claim pays for neither column.)
              CASE WHEN e.kind = 'workflow' THEN e.started_at END AS started_at,
              CASE WHEN e.kind = 'workflow'
                   THEN NOT EXISTS (SELECT FROM rhythm.snapshots s
                                    WHERE s.part = %(part)s AND s.execution_id = e.id)
                        AND NOT EXISTS (SELECT FROM rhythm.signals g
                                        WHERE g.part = %(part)s AND g.execution_id = e.id
                                          AND g.consumed_by IS NULL)
                   ELSE false END AS fresh,
              -- When it was due (metrics: schedule-to-start); the index holds it.
              ready.run_at AS scheduled_at,
              ready.pick
)
SELECT * FROM claimed ORDER BY pick;

-- name: release_claims
-- Shutdown: rows claimed into a worker's local buffer but never started go back to
-- their queue at once (attempt not counted; a workflow with a snapshot is suspended).
UPDATE rhythm.executions e
SET status = CASE WHEN e.kind = 'workflow'
                       AND EXISTS (SELECT 1 FROM rhythm.snapshots s
                                   WHERE s.part = %(part)s AND s.execution_id = e.id)
                  THEN 'suspended' ELSE 'pending' END,
    run_at = %(now)s,
    claimed_by = NULL,
    lease_expires_at = NULL,
    attempt = e.attempt - CASE WHEN e.kind = 'task' THEN 1 ELSE 0 END,
    updated_at = %(now)s
FROM jsonb_to_recordset(%(claims)s::jsonb) AS h(id text, token bigint)
WHERE e.part = %(part)s AND e.id = h.id AND e.claim_token = h.token AND e.status = 'running'
RETURNING e.id, e.part::text || ':' || e.queue AS wake;

-- name: next_due
-- The earliest run_at of the given queues in one partition: how long an idle worker may
-- sleep, and whether the partition has work (the claimer's probe).
SELECT min(due) AS due FROM (
    SELECT (SELECT run_at FROM rhythm.executions
            WHERE part = %(part)s AND queue = q AND run_at IS NOT NULL
              AND kind = ANY(%(kinds)s::text[])
              AND (kind = 'workflow' OR %(names)s::text[] IS NULL
                   OR name = ANY(%(names)s::text[]))
            ORDER BY run_at LIMIT 1) AS due
    FROM unnest(%(queues)s::text[]) AS q
) per_queue;

-- name: record_outcomes
-- The flusher's batch in one statement (one round trip, its own transaction): the
-- completions, retries and failures of claimed rows of one partition, and for those
-- that ended with a parent, the parent's promise settled and the parent woken
-- (as settle_parents does), reading the rows this statement just finished. Transactional
-- tasks run it inside their own transaction, with no queues (nothing claimed).
WITH done AS (
    UPDATE rhythm.executions e
    SET status = f.status,
        result = f.result,
        error = f.error,
        run_at = f.run_at,
        claimed_by = NULL,
        lease_expires_at = NULL,
        attempt = e.attempt - CASE WHEN f.handed_back THEN 1 ELSE 0 END,
        updated_at = %(now)s,
        finished_at = CASE WHEN f.status IN ('completed', 'failed', 'cancelled')
                           THEN %(now)s::timestamptz END
    FROM json_to_recordset(%(batch)s::json)
         AS f(id text, token bigint, status text, result json, error json,
              run_at timestamptz, handed_back boolean)
    WHERE e.part = %(part)s AND e.id = f.id AND e.status = 'running'
      AND e.claim_token = f.token
    RETURNING e.id, e.status, e.queue, e.run_at, e.parent_id, e.parent_promise,
              e.result, e.error, e.finished_at, e.concurrency_key
),
settled AS (
    UPDATE rhythm.promises p
    SET state = CASE WHEN d.status = 'completed' THEN 'resolved' ELSE 'rejected' END,
        value = CASE WHEN d.status = 'completed' THEN d.result ELSE d.error END,
        settled_at = %(now)s,
        settled_ms = floor(extract(epoch FROM %(now)s::timestamptz) * 1000)::bigint
    FROM done d
    WHERE d.parent_id IS NOT NULL AND d.finished_at IS NOT NULL
      AND p.part = %(part)s AND p.execution_id = d.parent_id
      AND p.promise_id = d.parent_promise AND p.target = d.id AND p.state = 'pending'
    RETURNING p.execution_id
),
parents AS (
    -- Woken parents; a suspended one on a queue of this worker (%(queues)s, empty when
    -- it is stopping) is claimed for it at once - fresh token, lease - and returned, so
    -- its next activation starts without a NOTIFY and a claim round trip.
    SELECT w.id, w.status = 'suspended' AND w.queue = ANY(%(queues)s::text[]) AS take
    FROM rhythm.executions w
    JOIN (SELECT DISTINCT execution_id FROM settled) s ON w.id = s.execution_id
    WHERE w.part = %(part)s
    FOR UPDATE OF w
),
woken AS (
    UPDATE rhythm.executions w
    SET wake_seq = w.wake_seq + 1,
        status = CASE WHEN p.take THEN 'running' ELSE w.status END,
        run_at = CASE WHEN p.take THEN NULL
                      WHEN w.status = 'suspended' THEN %(now)s::timestamptz
                      ELSE w.run_at END,
        claim_token = w.claim_token + CASE WHEN p.take THEN 1 ELSE 0 END,
        claimed_by = CASE WHEN p.take THEN %(worker)s ELSE w.claimed_by END,
        lease_expires_at = CASE WHEN p.take THEN %(lease_until)s::timestamptz
                                ELSE w.lease_expires_at END,
        updated_at = %(now)s
    FROM parents p
    WHERE w.part = %(part)s AND w.id = p.id
    RETURNING p.take, w.part, w.id, w.kind, w.name, w.version, w.inputs, w.queue,
              w.attempt, w.max_retries, w.lease_losses, w.options, w.claim_token,
              w.cancel_requested, w.parent_id, w.parent_promise, w.wake_seq,
              CASE WHEN w.run_at IS NOT NULL THEN w.part::text || ':' || w.queue END AS wake
),
hints AS (
    -- wake-ups: workers (a retry is due later; an ended one freed its key's slot) and
    -- waiting clients (it ended)
    SELECT d.*, CASE WHEN d.run_at IS NOT NULL THEN %(part)s::text || ':' || d.queue
                     WHEN d.concurrency_key IS NOT NULL AND d.finished_at IS NOT NULL
                     THEN '!admit:' || d.concurrency_key END AS wake,
           CASE WHEN d.finished_at IS NOT NULL THEN d.id END AS done
    FROM done d
)
-- (Only a row due again - a retry - is announced: an ended keyed row's '!admit:KEY' is
-- the recording worker's to act on, at once, without a round trip through its listener;
-- should it die first, the workers' sweep does.)
SELECT h.id, h.status, h.queue, h.run_at, h.parent_id, h.parent_promise, h.wake, h.done,
       CASE WHEN %(notify)s AND h.run_at IS NOT NULL THEN pg_notify('rhythm_wake', h.wake) END,
       CASE WHEN %(notify)s AND h.done IS NOT NULL THEN pg_notify('rhythm_done', h.done) END,
       -- on the first row: the wake-ups of parents woken and not claimed, and the
       -- claimed ones once (not N copies of N claims)
       CASE WHEN row_number() OVER () = 1
            THEN (SELECT json_agg(k.wake) FROM woken k
                  WHERE NOT k.take AND k.wake IS NOT NULL
                    AND (NOT %(notify)s OR pg_notify('rhythm_wake', k.wake) IS NOT NULL)) END
            AS woke,
       CASE WHEN row_number() OVER () = 1
            THEN (SELECT json_agg(k) FROM woken k WHERE k.take) END AS claimed
FROM hints h;

-- name: settle_parents
-- A finished child (task or workflow) settles promise N of its parent and wakes it.
-- The target check makes a child of an earlier run of a reused id harmless. Each child is
-- read by its full key (LATERAL ... LIMIT 1, as load_activation_all): a generic plan made
-- with statistics of an empty table read every child of the partition through
-- executions_parent (`parent_id IS NOT NULL`) instead.
WITH finished AS (
    SELECT c.id, c.status, c.result, c.error, c.parent_id, c.parent_promise
    FROM unnest(%(ids)s::text[]) AS k(id)
    CROSS JOIN LATERAL (SELECT * FROM rhythm.executions x
                        WHERE x.part = %(part)s AND x.id = k.id
                        LIMIT 1) c
    WHERE c.parent_id IS NOT NULL AND c.status IN ('completed', 'failed', 'cancelled')
),
settled AS (
    UPDATE rhythm.promises p
    SET state = CASE WHEN f.status = 'completed' THEN 'resolved' ELSE 'rejected' END,
        value = CASE WHEN f.status = 'completed' THEN f.result ELSE f.error END,
        settled_at = %(now)s,
        settled_ms = floor(extract(epoch FROM %(now)s::timestamptz) * 1000)::bigint
    FROM finished f
    WHERE p.part = %(part)s AND p.execution_id = f.parent_id
      AND p.promise_id = f.parent_promise AND p.target = f.id AND p.state = 'pending'
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

-- name: listen_wake
LISTEN rhythm_wake;

-- name: listen_done
LISTEN rhythm_done;

-- name: unlisten_done
-- A client's listener between waits: a session that listens but does not read holds
-- back the server's notification queue for every session.
UNLISTEN rhythm_done;

-- name: renew_leases
-- Heartbeat: extend the leases this worker still holds; rows not returned were lost.
UPDATE rhythm.executions e
SET lease_expires_at = %(lease_until)s
FROM jsonb_to_recordset(%(claims)s::jsonb) AS h(id text, token bigint)
WHERE e.part = %(part)s AND e.id = h.id AND e.claim_token = h.token
  AND e.status = 'running'
RETURNING e.id, e.cancel_requested;

-- name: heartbeat_session
-- The heartbeat thread's connection: a renew that hangs ends, and the thread goes on.
SELECT set_config('statement_timeout', %(timeout)s, false);

-- name: reap_expired_leases
-- Rows whose worker stopped renewing go back to the queue (the next claim gets a new
-- token, so the dead worker's completion is rejected). Workflows resume from their
-- last snapshot; repeated losses are capped by the claimer (lease_losses). One partition
-- a statement; the pick runs once, as the claim's does.
WITH expired AS MATERIALIZED (
    SELECT id FROM rhythm.executions
    WHERE part = %(part)s AND status = 'running' AND lease_expires_at < %(now)s
    ORDER BY lease_expires_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
UPDATE rhythm.executions e
SET status = CASE WHEN e.kind = 'workflow'
                       AND EXISTS (SELECT 1 FROM rhythm.snapshots s
                                   WHERE s.part = %(part)s AND s.execution_id = e.id)
                  THEN 'suspended' ELSE 'pending' END,
    run_at = %(now)s,
    claimed_by = NULL,
    lease_expires_at = NULL,
    lease_losses = e.lease_losses + 1,
    updated_at = %(now)s
FROM expired
WHERE e.part = %(part)s AND e.id = expired.id
RETURNING e.id, e.part::text || ':' || e.queue AS wake;

-- name: register_worker
-- (with the task names it has and its lease: live_task_names, 0016)
INSERT INTO rhythm.workers (id, host, pid, queues, tasks, lease_seconds, started_at,
                            heartbeat_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s, %(tasks)s, %(lease_seconds)s, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, tasks = excluded.tasks,
                               lease_seconds = excluded.lease_seconds;

-- name: worker_heartbeat
UPDATE rhythm.workers SET heartbeat_at = %(now)s WHERE id = %(id)s;

-- name: unregister_worker
DELETE FROM rhythm.workers WHERE id = %(id)s;

-- name: register_task_routes
-- (with each task's concurrency key, read by every insert of the task: 0010, and its
-- rate limit, NULL for none: 0011)
INSERT INTO rhythm.task_routes (name, queue, concurrency, rate_limit, registered_at)
SELECT r.name, r.queue, r.concurrency, r.rate_limit, %(now)s
FROM jsonb_to_recordset(%(routes)s::jsonb)
     AS r(name text, queue text, concurrency jsonb, rate_limit text)
ON CONFLICT (name) DO UPDATE SET queue = excluded.queue, concurrency = excluded.concurrency,
                                 rate_limit = excluded.rate_limit,
                                 registered_at = excluded.registered_at;

-- name: routed_task_names
-- Which of the given task names some worker has registered (routing: a task of any
-- other name is claimed by no worker; `rhythm status`/`list` say so).
SELECT name FROM rhythm.task_routes WHERE name = ANY(%(names)s::text[]);

-- name: live_task_names
-- Which of the given task names a live worker has: a worker is live while its heartbeat
-- is younger than its lease (it beats every third of it; one stopped gracefully deleted
-- its row); one registered before 0016 has no list of names (NULL) and may have any.
-- Reads only: nothing on the hot path writes for it. (Apart from routed_task_names: on
-- Citus, task_routes is a reference table and workers stays on the coordinator.)
SELECT n.name FROM unnest(%(names)s::text[]) AS n(name)
WHERE EXISTS (SELECT FROM rhythm.workers w
              WHERE w.heartbeat_at > %(now)s::timestamptz
                                     - make_interval(secs => coalesce(w.lease_seconds, 30))
                AND (w.tasks IS NULL OR n.name = ANY(w.tasks)));

-- name: get_execution
SELECT part, id, kind, name, version, status, inputs, result, error, parent_id, parent_promise,
       queue, priority, attempt, max_retries, lease_losses, options, run_at, claim_token,
       claimed_by, lease_expires_at, cancel_requested, run_no, created_at, started_at,
       updated_at, finished_at, idempotency_key, concurrency_key, concurrency_limit, admitted
FROM rhythm.executions
WHERE part = %(part)s AND id = %(id)s;

-- name: list_executions
-- `rhythm list` / client.list: every filter optional (NULL: not asked). Newest first,
-- ties by id; the next page starts after the last row's (created_at, id) (keyset: no
-- OFFSET). The common case walks executions_created and stops at the limit; a parent
-- names its partition and is found through executions_parent. Without a parent, every
-- partition (on Citus, a read of every shard). The planner folds the NULL tests away in
-- a plan made for the parameters (a new connection's first five runs; the CLI's always).
SELECT id, kind, name, version, status, queue, parent_id, attempt, run_no, run_at,
       created_at, finished_at, idempotency_key, concurrency_key, concurrency_limit,
       admitted
FROM rhythm.executions
WHERE (%(parent_id)s::text IS NULL OR (part = %(part)s AND parent_id = %(parent_id)s))
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(id_prefix)s::text IS NULL OR starts_with(id, %(id_prefix)s))
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
  -- (the first test bounds the index range; the second skips the ties already shown)
  AND (%(after_at)s::timestamptz IS NULL OR created_at <= %(after_at)s)
  AND (%(after_at)s::timestamptz IS NULL OR created_at < %(after_at)s
       OR id > %(after_id)s)
ORDER BY created_at DESC, id
LIMIT %(limit)s;

-- name: cancel_executions
-- Cancel (one id or a bulk page of one partition): a pending row ends at once; a running
-- or suspended one is asked to stop (the worker sees the flag on its next heartbeat; a
-- workflow is woken to meet CancelledError). Rows are locked in id order first, so two
-- bulk cancels over the same rows wait for each other instead of deadlocking.
WITH locked AS (
    SELECT id FROM rhythm.executions
    WHERE part = %(part)s AND id = ANY(%(ids)s::text[])
      AND status IN ('pending', 'running', 'suspended')
    ORDER BY id
    FOR UPDATE
)
UPDATE rhythm.executions
SET cancel_requested = true,
    status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
    error = CASE WHEN status = 'pending' THEN %(error)s::json ELSE error END,
    run_at = CASE WHEN status = 'pending' THEN NULL
                  WHEN status = 'suspended' THEN %(now)s::timestamptz
                  ELSE run_at END,
    finished_at = CASE WHEN status = 'pending' THEN %(now)s::timestamptz ELSE finished_at END,
    updated_at = %(now)s
FROM locked
WHERE executions.part = %(part)s AND executions.id = locked.id
  AND executions.status IN ('pending', 'running', 'suspended')
RETURNING executions.id, kind, status, queue, run_at, parent_id,
          CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
               WHEN concurrency_key IS NOT NULL AND status = 'cancelled'
               THEN '!admit:' || concurrency_key END AS wake,
          CASE WHEN status = 'cancelled' THEN executions.id END AS done;

-- name: retry_executions
-- `rhythm retry` (one id or a bulk page of one partition, locked by lock_retryable): a
-- failed or cancelled execution runs again from the start, same inputs.
UPDATE rhythm.executions
SET status = 'pending', result = NULL, error = NULL, attempt = 0, lease_losses = 0,
    -- (a workflow cancelled while it waited for a version waits again, see insert_execution)
    run_at = CASE WHEN concurrency_key IS NOT NULL THEN NULL  -- (waits for a slot again)
                  WHEN kind = 'workflow' AND version IS NULL
                       AND NOT EXISTS (SELECT FROM rhythm.workflow_versions v
                                       WHERE v.name = executions.name)
                  THEN NULL ELSE %(now)s::timestamptz END,
    admitted = CASE WHEN concurrency_key IS NOT NULL THEN false END,
    claimed_by = NULL, lease_expires_at = NULL, cancel_requested = false,
    run_no = run_no + 1, started_at = NULL, finished_at = NULL, updated_at = %(now)s
WHERE part = %(part)s AND id = ANY(%(ids)s::text[]) AND status IN ('failed', 'cancelled')
RETURNING id, kind, status, queue, run_no,
          CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
               WHEN concurrency_key IS NOT NULL THEN '!admit:' || concurrency_key END AS wake;

-- name: notify
-- Notifications the application sends itself (see the top of this file): channel
-- rhythm_wake or rhythm_done, one payload each. Touches no table, so on Citus it runs on
-- the coordinator, where workers and clients listen.
SELECT pg_notify(n.channel, n.payload)
FROM unnest(%(channels)s::text[], %(payloads)s::text[]) AS n(channel, payload);

-- name: join_transaction
-- On a caller's non-autocommit connection with no transaction open yet, this first
-- statement opens the caller's (implicit) transaction, so the runtime's work nests in
-- it as a savepoint and commits or rolls back with the caller's own data.
SELECT 1;
