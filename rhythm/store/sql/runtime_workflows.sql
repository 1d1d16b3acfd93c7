-- Named queries of workflow executions: versions, activations, timers and signals.
-- Same rules as runtime.sql: times come from the runtime's clock as parameters, and
-- every write about a claimed workflow is checked against its claim_token; every
-- statement about an execution names its partition (%(part)s) in every reference to a
-- partitioned table, and wake-ups come back as `wake`/`done` (see runtime.sql).

-- name: lock_workflow_names
-- Serialises a start that found no version of its name with a registration of that
-- name (held to the end of the transaction): either the start's second look sees the
-- registered version, or the registration sees the start's waiting row and releases it.
SELECT pg_advisory_xact_lock(1936, hashtext(n))
FROM (SELECT DISTINCT unnest(%(names)s::text[]) AS n ORDER BY 1) AS names;

-- name: register_versions
-- Versions (a worker's, or `rhythm register`); re-registering an existing one makes it
-- current again. Executions started while their name had no version become claimable
-- (release_waiting_starts, next). Run after lock_workflow_names, in the same transaction.
INSERT INTO rhythm.workflow_versions
    (name, version, source, source_path, created_at, registered_at)
SELECT r.name, r.version, r.source, r.source_path, %(now)s,
       %(now)s::timestamptz + (r.ord * interval '1 microsecond')
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(name text, version text, source text, source_path text, ord bigint)
ON CONFLICT (name, version) DO UPDATE SET registered_at = excluded.registered_at;

-- name: release_waiting_starts
-- Executions started while their name had no version become claimable (their first
-- claim pins the current version); one row back per partition and queue woken, with how
-- many. The one statement here that spans partitions (a write to every shard on Citus):
-- registrations are rare, and nothing waits for a version in the usual case.
WITH released AS (
    UPDATE rhythm.executions e
    SET run_at = %(now)s, updated_at = %(now)s
    WHERE e.kind = 'workflow' AND e.version IS NULL AND e.status = 'pending'
      AND e.run_at IS NULL AND e.name = ANY(%(names)s::text[])
      AND e.admitted IS NOT FALSE  -- (one waiting for a concurrency slot is admitted later)
    RETURNING e.part, e.queue
)
SELECT part::text || ':' || queue AS wake, count(*) AS released
FROM released
GROUP BY part, queue;

-- name: get_version_source
SELECT source, source_path FROM rhythm.workflow_versions
WHERE name = %(name)s AND version = %(version)s;

-- name: current_versions
-- The current (newest registered) version of each given name.
SELECT DISTINCT ON (name) name, version
FROM rhythm.workflow_versions
WHERE name = ANY(%(names)s::text[])
ORDER BY name, registered_at DESC;

-- name: workflow_names
-- Every workflow name with a registered version ("did you mean" of an unknown name).
SELECT DISTINCT name FROM rhythm.workflow_versions ORDER BY name;

-- name: load_activation_all
-- One round trip for an activation: the snapshot, the promises it can reach (refs) plus
-- every open combinator, and the buffered signals, oldest first. has_refs is false for
-- a snapshot saved before refs existed (the caller then loads promises separately).
-- Each reachable promise is fetched by its full key (the LATERAL ... LIMIT 1 is not
-- flattened into a join, so no plan can fall back to scanning the execution's prefix of
-- the pkey): a plan cached while the table was small otherwise read *every* promise of
-- the execution on each activation (per-step cost growing with history). Open
-- combinators come from their partial index.
SELECT e.started_at, e.cancel_delivered, s.snapshot, s.next_promise_id, s.waiting_on,
       (s.snapshot IS NULL OR s.refs IS NOT NULL) AS has_refs,
       (SELECT coalesce(json_agg(json_build_object(
                   'promise_id', p.promise_id, 'kind', p.kind, 'target', p.target,
                   'state', p.state, 'value', p.value, 'params', p.params,
                   'created_ms', p.created_ms, 'settled_ms', p.settled_ms)), '[]'::json)
        FROM (SELECT r.* FROM unnest(array_remove(coalesce(s.refs, '{}'::int[])
                                                  || s.waiting_on, NULL)) AS k(pid)
              CROSS JOIN LATERAL (SELECT * FROM rhythm.promises x
                                  WHERE x.part = %(part)s AND x.execution_id = e.id
                                    AND x.promise_id = k.pid
                                  LIMIT 1) r
              UNION ALL
              SELECT * FROM rhythm.promises c
              WHERE c.part = %(part)s AND c.execution_id = e.id AND c.kind = 'combinator'
                AND c.state = 'pending'
                AND NOT c.promise_id = ANY(array_remove(coalesce(s.refs, '{}'::int[])
                                                        || s.waiting_on, NULL))
             ) p) AS promises,
       (SELECT coalesce(json_agg(json_build_array(g.id, g.channel, g.payload)
                                 ORDER BY g.id), '[]'::json)
        FROM rhythm.signals g
        WHERE g.part = %(part)s AND g.execution_id = e.id AND g.consumed_by IS NULL)
       AS buffered
FROM rhythm.executions e
LEFT JOIN rhythm.snapshots s ON s.part = %(part)s AND s.execution_id = e.id
WHERE e.part = %(part)s AND e.id = %(id)s;

-- name: load_promises
-- Promises of an execution by id (combinator members; snapshots saved before 0004),
-- each fetched by its full key (see load_activation_all).
SELECT x.promise_id, x.kind, x.target, x.state, x.value, x.params, x.created_ms,
       x.settled_ms
FROM unnest(%(ids)s::int[]) AS k(pid)
CROSS JOIN LATERAL (SELECT * FROM rhythm.promises p
                    WHERE p.part = %(part)s AND p.execution_id = %(id)s
                      AND p.promise_id = k.pid
                    LIMIT 1) x;

-- name: load_open_combinators
-- Pending combinators of an execution (a signal checks them for abandoned waits).
SELECT promise_id, kind, target, state, value, params, created_ms, settled_ms
FROM rhythm.promises
WHERE part = %(part)s AND execution_id = %(id)s AND kind = 'combinator' AND state = 'pending';

-- name: load_buffered_signals
SELECT id, channel, payload FROM rhythm.signals
WHERE part = %(part)s AND execution_id = %(id)s AND consumed_by IS NULL
ORDER BY id;

-- name: lock_claimed
-- First statement of an activation's commit: the claim must still be ours.
SELECT wake_seq, cancel_requested FROM rhythm.executions
WHERE part = %(part)s AND id = %(id)s AND claim_token = %(token)s AND status = 'running'
FOR UPDATE;

-- name: save_snapshot
INSERT INTO rhythm.snapshots (part, execution_id, snapshot, next_promise_id, waiting_on,
                              refs, activations, updated_at)
VALUES (%(part)s, %(id)s, %(snapshot)s::jsonb, %(next_promise_id)s, %(waiting_on)s,
        %(refs)s::int[], 1, %(now)s)
ON CONFLICT (execution_id, part) DO UPDATE
SET snapshot = excluded.snapshot, next_promise_id = excluded.next_promise_id,
    waiting_on = excluded.waiting_on, refs = excluded.refs,
    activations = rhythm.snapshots.activations + 1, updated_at = excluded.updated_at;

-- name: forget_promises
-- commit_activations' forgotten and signals_forgotten, for the pipelined commit (after
-- consume_signals, so the signals a wait forgotten in the same activation took are
-- among those deleted).
WITH forgotten AS (
    DELETE FROM rhythm.promises
    WHERE part = %(part)s AND execution_id = %(id)s
      AND promise_id IN (SELECT promise_id FROM rhythm.promises
                         WHERE part = %(part)s AND execution_id = %(id)s
                           AND promise_id = ANY(%(forget)s::int[])
                         FOR UPDATE SKIP LOCKED)
)
DELETE FROM rhythm.signals
WHERE part = %(part)s AND execution_id = %(id)s AND consumed_by = ANY(%(forget)s::int[]);

-- name: delete_snapshot
DELETE FROM rhythm.snapshots WHERE part = %(part)s AND execution_id = %(id)s;

-- name: write_promises
-- New promises of an activation, and the ones it changed (combinators it settled, waits
-- a race abandoned). A row settled meanwhile by someone else is never overwritten.
INSERT INTO rhythm.promises AS p
    (part, execution_id, promise_id, kind, target, state, value, due_at, params, created_ms,
     settled_ms, settled_at, created_at)
SELECT %(part)s, %(id)s, r.promise_id, r.kind, r.target, r.state, r.value, r.due_at,
       r.params, r.created_ms, r.settled_ms,
       CASE WHEN r.settled_ms IS NOT NULL THEN %(now)s::timestamptz END, %(now)s
FROM json_to_recordset(%(rows)s::json)
     AS r(promise_id int, kind text, target text, state text, value json,
          due_at timestamptz, params json, created_ms bigint, settled_ms bigint)
ON CONFLICT (execution_id, promise_id, part) DO UPDATE
SET state = excluded.state, value = excluded.value, settled_ms = excluded.settled_ms,
    settled_at = excluded.settled_at
WHERE p.state IN ('pending', 'abandoned');

-- name: consume_signals
-- Buffered signals that new waits of this activation took (FIFO was decided in memory).
UPDATE rhythm.signals s
SET consumed_by = c.promise_id, consumed_at = %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS c(signal_id bigint, promise_id int)
WHERE s.part = %(part)s AND s.id = c.signal_id AND s.execution_id = %(id)s
  AND s.consumed_by IS NULL
RETURNING s.id;

-- name: insert_effects
-- The tasks and child workflows an activation requested, each settling one promise of
-- it. Children run the version that is current for their name now. Workers of their
-- queues are told (NOTIFY; repeats within a transaction are sent once). A task whose
-- route has a concurrency key waits for a slot (as in insert_execution).
WITH inserted AS (
    INSERT INTO rhythm.executions
        (part, id, kind, name, version, inputs, queue, priority, max_retries, options,
         run_at, parent_id, parent_promise, created_at, updated_at, concurrency_key,
         concurrency_limit, admitted, history_seq)
    SELECT %(part)s, r.id, r.kind, r.name, r.version, r.inputs,
           coalesce(r.queue, t.queue, %(default_queue)s),
           r.priority, r.max_retries, r.options, CASE WHEN k.ckey IS NULL THEN %(now)s END,
           %(id)s, r.promise_id, %(now)s, %(now)s, k.ckey, (t.concurrency->>'limit')::int,
           CASE WHEN k.ckey IS NOT NULL THEN false END, (r.kind = 'workflow')::int
    FROM json_to_recordset(%(rows)s::json)
         AS r(id text, kind text, name text, version text, inputs json, queue text,
              priority int, max_retries int, options jsonb, promise_id int)
    LEFT JOIN rhythm.task_routes t ON t.name = r.name AND r.kind = 'task'
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.concurrency IS NOT NULL
                    THEN coalesce(r.inputs #>> string_to_array(t.concurrency->>'key', '.'), '')
               END AS ckey) k
    RETURNING id, kind, name, version, part, queue, concurrency_key
),
children_started AS (
    -- (as commit_activations' children_started)
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT id, 1, %(part)s, %(now)s, 'started',
           json_build_object('name', name, 'version', version, 'run_no', 1,
                             'parent_id', %(id)s::text)::jsonb
    FROM inserted WHERE kind = 'workflow'
)
SELECT CASE WHEN concurrency_key IS NULL THEN part::text || ':' || queue
            ELSE '!admit:' || concurrency_key END AS wake
FROM inserted;

-- name: finish_activation
-- The execution's new state; run_at makes it claimable again when something it waits
-- for settled meanwhile (wake_seq moved) or it must go on at once.
UPDATE rhythm.executions
SET status = %(status)s,
    result = %(result)s::json,
    error = %(error)s::json,
    run_at = CASE WHEN %(status)s = 'suspended'
                       AND (%(again)s OR wake_seq <> %(wake_seq)s
                            OR (cancel_requested AND NOT %(cancel_delivered)s))
                  THEN %(now)s::timestamptz END,
    claimed_by = NULL,
    lease_expires_at = NULL,
    cancel_delivered = %(cancel_delivered)s,
    updated_at = %(now)s,
    finished_at = CASE WHEN %(status)s IN ('completed', 'failed', 'cancelled')
                       THEN %(now)s::timestamptz END
WHERE part = %(part)s AND id = %(id)s AND claim_token = %(token)s AND status = 'running'
RETURNING queue, run_at, parent_id,
          CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
               WHEN concurrency_key IS NOT NULL AND finished_at IS NOT NULL
               THEN '!admit:' || concurrency_key END AS wake,
          CASE WHEN finished_at IS NOT NULL THEN id END AS done;

-- name: commit_activations
-- Activations' whole commits in ONE statement (its own transaction, one round trip), for
-- one activation or for several at once (group commit: %(batch)s is a JSON array of
-- rhythm.activation_commit). Each element either suspends or ends (status); one that
-- ends here has no parent to wake, requested nothing and took no signal (the caller
-- checks), and drops its snapshot and open waits. For each: the claim check first (row
-- lock), then - only for those whose claim is still theirs - promises, consumed
-- signals, requested tasks/children (with their NOTIFY), snapshot (unless save is
-- false) and new state. One row back per element that committed (its n: its place in
-- the array); one without a row had a stale claim and wrote nothing, whatever the
-- others did. The pipelined path (lock_claimed, write_promises, ... finish_activation)
-- serves the rarer commits: an ending with a parent or effects, a cancellation
-- delivered, new signal waits. Keep the two in step.
-- A resumed activation (task_id set: the worker ran the one task the workflow waits on
-- and kept its state, so it was never claimed or loaded) holds no claim: the check is
-- then resume_with_result's guard - still suspended under the token it committed with,
-- nothing else seen since - and the task's outcome is recorded here too (its promise is
-- among the rows). All of a batch is in one partition, %(part)s (the caller groups).
WITH claimed AS (
    -- Each workflow row (and a resumed activation's task row) is locked through its
    -- primary key, in the order of the array (sorted by id: two batches never
    -- deadlock). (A join, or a status = 'running' in the task's lookup, lets a plan made
    -- with stale statistics scan the partial index of every running row instead.)
    SELECT a.*, t.status AS task_was
    FROM json_populate_recordset(NULL::rhythm.activation_commit, %(batch)s::json) a
    CROSS JOIN LATERAL (
        SELECT FROM rhythm.executions e
        WHERE e.part = %(part)s AND e.id = a.id AND e.claim_token = a.token
          AND (e.status = 'running'
               OR (a.task_id IS NOT NULL AND e.status = 'suspended' AND e.run_at IS NULL))
        FOR UPDATE) w
    LEFT JOIN LATERAL (
        SELECT status FROM rhythm.executions e
        WHERE e.part = %(part)s AND e.id = a.task_id AND e.claim_token = a.task_token
        FOR UPDATE) t ON true
),
ok AS (
    SELECT * FROM claimed WHERE task_id IS NULL OR task_was = 'running'
),
task AS (
    UPDATE rhythm.executions t
    SET status = o.task_status, result = o.task_result::json, error = o.task_error::json,
        claimed_by = NULL, lease_expires_at = NULL, updated_at = o.now, finished_at = o.now
    FROM ok o
    WHERE t.part = %(part)s AND t.id = o.task_id
),
promises_written AS (
    INSERT INTO rhythm.promises AS p
        (part, execution_id, promise_id, kind, target, state, value, due_at, params,
         created_ms, settled_ms, settled_at, created_at)
    SELECT %(part)s, o.id, r.promise_id, r.kind, r.target, r.state, r.value, r.due_at,
           r.params, r.created_ms, r.settled_ms,
           CASE WHEN r.settled_ms IS NOT NULL THEN o.now END, o.now
    FROM ok o CROSS JOIN LATERAL json_populate_recordset(NULL::rhythm.promises, o.rows) r
    ON CONFLICT (execution_id, promise_id, part) DO UPDATE
    SET state = excluded.state, value = excluded.value, settled_ms = excluded.settled_ms,
        settled_at = excluded.settled_at
    WHERE p.state IN ('pending', 'abandoned')
),
consumed AS (
    UPDATE rhythm.signals s
    SET consumed_by = c.promise_id, consumed_at = o.now
    FROM ok o CROSS JOIN LATERAL jsonb_to_recordset(o.consumed)
         AS c(signal_id bigint, promise_id int)
    WHERE s.part = %(part)s AND s.id = c.signal_id AND s.execution_id = o.id
      AND s.consumed_by IS NULL
),
forgotten AS (
    -- What the new snapshot can no longer reach (the caller's o.forget, never a row
    -- written above) and the signals those promises took: constant storage for a
    -- workflow that loops forever (0013). A row being settled right now (a task's
    -- outcome, a timer firing: they lock the promise, then wait for this workflow's
    -- row, which we hold) is skipped, not waited for: that wait would be a deadlock.
    -- It stays, unreachable, until the execution is deleted.
    DELETE FROM rhythm.promises p
    WHERE p.part = %(part)s
      AND (p.execution_id, p.promise_id) IN (
          SELECT x.execution_id, x.promise_id
          FROM ok o JOIN rhythm.promises x
               ON x.part = %(part)s AND x.execution_id = o.id
                  AND x.promise_id = ANY(o.forget)
          FOR UPDATE OF x SKIP LOCKED)
),
signals_forgotten AS (
    DELETE FROM rhythm.signals s USING ok o
    WHERE s.part = %(part)s AND s.execution_id = o.id AND s.consumed_by = ANY(o.forget)
),
taken_gone AS (
    DELETE FROM rhythm.signals s USING ok o
    WHERE s.part = %(part)s AND s.id = ANY(o.taken_gone) AND s.execution_id = o.id
      AND s.consumed_by IS NULL
),
effects AS (
    -- A requested task this worker runs itself (r.here: the worker has it registered,
    -- within its limit, decided by the caller) on one of local_queues (empty when it is
    -- stopping) is inserted already claimed for it - token 1, lease, attempt 1 - as the
    -- claim statement would leave it, and returned: it starts from the worker's buffer
    -- without a NOTIFY and a claim. A crash leaves an ordinary leased claim, re-run
    -- after the lease. (The statement is far over psycopg's 4,096-character cache of
    -- converted queries: it goes with $n placeholders through a raw cursor, RAW in
    -- rhythm/runtime/sql.py, so nothing re-parses it per call.)
    INSERT INTO rhythm.executions
        (part, id, kind, name, version, inputs, queue, priority, max_retries, options,
         run_at, parent_id, parent_promise, created_at, updated_at, status, claim_token,
         claimed_by, lease_expires_at, attempt, started_at, concurrency_key,
         concurrency_limit, admitted, history_seq)
    SELECT %(part)s, r.id, r.kind, r.name, r.version, r.inputs, q.queue, r.priority, r.max_retries,
           r.options, CASE WHEN NOT h.here AND q.ckey IS NULL THEN o.now END, o.id,
           r.promise_id, o.now,
           o.now, CASE WHEN h.here THEN 'running' ELSE 'pending' END, h.here::int,
           CASE WHEN h.here THEN o.worker END, CASE WHEN h.here THEN o.lease_until END,
           h.here::int, CASE WHEN h.here THEN o.now END, q.ckey, q.climit,
           CASE WHEN q.ckey IS NOT NULL THEN false END, (r.kind = 'workflow')::int
    FROM ok o CROSS JOIN LATERAL json_to_recordset(o.effects)
         AS r(id text, kind text, name text, version text, inputs json, queue text,
              priority int, max_retries int, options jsonb, promise_id int, here bool)
    -- The task's route: its queue, and its concurrency key (a task with one waits for
    -- a slot: never started here, run_at NULL, woken as '!admit:KEY'; the caller never
    -- marks such a task `here`, as it knows its own tasks' keys).
    CROSS JOIN LATERAL (
        SELECT coalesce(r.queue, t.queue, o.default_queue) AS queue,
               CASE WHEN t.concurrency IS NOT NULL
                    THEN coalesce(r.inputs #>> string_to_array(t.concurrency->>'key', '.'), '')
               END AS ckey,
               (t.concurrency->>'limit')::int AS climit
        FROM (SELECT) one
        LEFT JOIN rhythm.task_routes t ON t.name = r.name AND r.kind = 'task'
        -- (OFFSET 0: evaluated once, not once per use of q.queue)
        OFFSET 0
    ) q
    -- Priorities hold for local starts too (issue 18): a task is not started here while
    -- its queue has a ready row of higher priority in this partition (it goes to the
    -- queue, where a claim takes the higher one first). One descent of executions_ready
    -- in its own order, bounded by the task's priority: with no higher row it stops at
    -- the first entry, touching no heap page (two index pages); made only for a task
    -- that would start here. A higher row due later counts too (rare; the task then
    -- merely waits for an ordinary claim). (OFFSET 0: evaluated once, as q.)
    CROSS JOIN LATERAL (
        SELECT r.here AND q.queue = ANY(o.local_queues)
               AND (SELECT 1 FROM rhythm.executions x
                    WHERE x.part = %(part)s AND x.queue = q.queue AND x.run_at IS NOT NULL
                      AND x.priority > r.priority
                    ORDER BY x.priority DESC LIMIT 1) IS NULL
               AS here
        OFFSET 0
    ) h
    -- (what Claim.from_row reads, and no more: the started ones come back as JSON)
    RETURNING part, id, kind, name, version, inputs, queue, attempt, max_retries,
              lease_losses, options, claim_token, cancel_requested, parent_id, wake_seq,
              status, concurrency_key
),
saved AS (
    INSERT INTO rhythm.snapshots (part, execution_id, snapshot, next_promise_id, waiting_on,
                                  refs, activations, updated_at)
    -- (a snapshot its history entry keeps as text comes once, as that text)
    SELECT %(part)s, o.id, coalesce(o.snapshot, o.history_snapshot_text::jsonb),
           o.next_promise_id, o.waiting_on, o.refs, 1, o.now
    FROM ok o WHERE o.save
    ON CONFLICT (execution_id, part) DO UPDATE
    SET snapshot = excluded.snapshot, next_promise_id = excluded.next_promise_id,
        waiting_on = excluded.waiting_on, refs = excluded.refs,
        activations = rhythm.snapshots.activations + 1, updated_at = excluded.updated_at
    RETURNING execution_id, activations
),
unsaved AS (
    -- (= ANY of an array of the ended ones: with a join, a plan made with real
    -- statistics walks a whole index even when nothing ended, as most of the time)
    DELETE FROM rhythm.snapshots
    WHERE part = %(part)s
      AND execution_id = ANY(ARRAY(SELECT id FROM ok WHERE status <> 'suspended'))
    RETURNING execution_id, activations
),
dropped AS (
    UPDATE rhythm.promises SET state = 'abandoned'
    WHERE part = %(part)s
      AND execution_id = ANY(ARRAY(SELECT id FROM ok WHERE status <> 'suspended'))
      AND state = 'pending' AND kind IN ('timer', 'signal')
),
finished AS (
    UPDATE rhythm.executions e
    SET status = o.status,
        result = o.result::json,
        error = o.error::json,
        run_at = CASE WHEN o.status = 'suspended'
                           AND (e.wake_seq <> o.wake_seq
                                OR (e.cancel_requested AND NOT o.cancel_delivered))
                      THEN o.now END,
        claimed_by = NULL,
        lease_expires_at = NULL,
        cancel_delivered = o.cancel_delivered,
        updated_at = o.now,
        finished_at = CASE WHEN o.status <> 'suspended' THEN o.now END,
        history_seq = e.history_seq + (o.history_detail IS NOT NULL)::int
    FROM ok o
    WHERE e.part = %(part)s AND e.id = o.id
    RETURNING o.n, e.id, o.task_id, e.run_at,
              CASE WHEN e.run_at IS NOT NULL THEN e.part::text || ':' || e.queue
                   WHEN e.concurrency_key IS NOT NULL AND e.finished_at IS NOT NULL
                   THEN '!admit:' || e.concurrency_key END AS wake,
              CASE WHEN e.finished_at IS NOT NULL THEN e.id END AS done,
              o.now, o.worker, o.history_detail, o.history_snapshot_text,
              o.history_snapshot_zlib, o.history_snapshot_bytes, e.history_seq
),
history AS (
    -- The activation's history entry (0015, docs/observability.md), numbered from the
    -- row's own counter as finished left it (the latest version: see 0015). Its step is
    -- the snapshot's activations count after this commit: what saved wrote, or for an
    -- ending what unsaved deleted plus one (1 with nothing saved before). (Read from
    -- their RETURNING, never from the table: whether a later CTE sees an earlier one's
    -- write differs between Postgres, where it does not, and Citus, which may run
    -- them one after the other.)
    -- The entry comes as fields of the element (0018: a nested object read again cost
    -- more), its worker the element's.
    INSERT INTO rhythm.history
        (execution_id, seq, part, at, kind, step, worker, detail, snapshot, snapshot_bytes)
    SELECT f.id, f.history_seq, %(part)s, f.now, 'activation',
           coalesce(s.activations, u.activations + 1, 1),
           f.worker, f.history_detail,
           coalesce(convert_to(f.history_snapshot_text, 'UTF8'),
                    decode(f.history_snapshot_zlib, 'base64')),
           f.history_snapshot_bytes
    FROM finished f
    LEFT JOIN saved s ON s.execution_id = f.id
    LEFT JOIN unsaved u ON u.execution_id = f.id
    WHERE f.history_detail IS NOT NULL
),
children_started AS (
    -- A child workflow's history begins with its start, by its parent's commit (0015).
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT c.id, 1, %(part)s, f.now, 'started',
           json_build_object('name', c.name, 'version', c.version, 'run_no', 1,
                             'parent_id', c.parent_id)::jsonb
    FROM effects c JOIN finished f ON f.id = c.parent_id
    WHERE c.kind = 'workflow'
)
-- (Data-modifying CTEs run to completion whether or not they are read.) Wake-ups: the
-- workflow's own, its requested executions not started here (effects_wake, sent here
-- and left out when %(notify)s), and clients waiting for it or for a resumed task.
SELECT f.n, f.run_at, f.wake, f.done,
       (SELECT json_agg(s) FROM effects s
        WHERE s.parent_id = f.id AND s.status = 'running') AS started,
       (SELECT json_agg(DISTINCT x.w) FROM effects s,
               LATERAL (SELECT CASE WHEN s.concurrency_key IS NULL
                                    THEN s.part::text || ':' || s.queue
                                    ELSE '!admit:' || s.concurrency_key END AS w) x
        WHERE s.parent_id = f.id AND s.status = 'pending'
          AND (NOT %(notify)s OR pg_notify('rhythm_wake', x.w) IS NULL)) AS effects_wake,
       (SELECT count(pg_notify(n.c, n.p))
        FROM (VALUES ('rhythm_wake', f.wake), ('rhythm_done', f.done),
                     ('rhythm_done', f.task_id)) n(c, p)
        WHERE %(notify)s AND n.p IS NOT NULL) AS sent
FROM finished f;

-- name: drop_waits
-- Timers and signal waits that nobody will await any more (the execution ended, or a
-- cancellation was delivered): they never fire and never consume a signal.
UPDATE rhythm.promises
SET state = 'abandoned'
WHERE part = %(part)s AND execution_id = %(id)s AND state = 'pending' AND kind IN ('timer', 'signal')
  AND promise_id < %(below)s;

-- name: cancel_children
-- Cancellation reaches the tasks and child workflows a workflow started before it
-- (promise ids below %(below)s; later ones are its compensation): pending ones end now,
-- running ones are told (heartbeat), suspended ones are woken to meet CancelledError.
-- Each child workflow asked gets its `cancel_requested` history entry (0015), as a
-- direct cancel writes it (record_entries) plus its `parent_id`: numbered by this same
-- UPDATE of its row (history_seq), so it stays one statement.
WITH asked AS (
    UPDATE rhythm.executions
    SET cancel_requested = true,
        status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
        error = CASE WHEN status = 'pending' THEN %(error)s::json ELSE error END,
        run_at = CASE WHEN status = 'pending' THEN NULL
                      WHEN status = 'suspended' THEN %(now)s::timestamptz
                      ELSE run_at END,
        finished_at = CASE WHEN status = 'pending' THEN %(now)s::timestamptz
                           ELSE finished_at END,
        updated_at = %(now)s,
        history_seq = history_seq + (kind = 'workflow')::int
    WHERE part = %(part)s AND parent_id = %(id)s AND status IN ('pending', 'running', 'suspended')
      AND parent_promise < %(below)s AND NOT cancel_requested
    RETURNING id, kind, status, queue, run_no, history_seq,
              CASE WHEN run_at IS NOT NULL THEN part::text || ':' || queue
                   WHEN concurrency_key IS NOT NULL AND status = 'cancelled'
                   THEN '!admit:' || concurrency_key END AS wake,
              CASE WHEN status = 'cancelled' THEN id END AS done
),
requested AS (
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT id, history_seq, %(part)s, %(now)s, 'cancel_requested',
           json_build_object('run_no', run_no, 'parent_id', %(id)s::text)::jsonb
    FROM asked WHERE kind = 'workflow'
)
SELECT id, status, queue, wake, done FROM asked;

-- name: fire_due_timers
-- Timers and signal-wait timeouts that are due settle at their due instant (so that
-- "first in time" races see when they fired, not when a worker noticed) and wake their
-- executions. One partition a statement.
WITH due AS MATERIALIZED (
    SELECT execution_id, promise_id FROM rhythm.promises
    WHERE part = %(part)s AND state = 'pending' AND due_at IS NOT NULL AND due_at <= %(now)s
    ORDER BY due_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
),
fired AS (
    UPDATE rhythm.promises p
    SET state = CASE WHEN p.kind = 'timer' THEN 'resolved' ELSE 'rejected' END,
        value = CASE WHEN p.kind = 'timer' THEN 'null'::json ELSE p.params->'timeout_error' END,
        settled_ms = (p.params->>'due')::bigint,
        settled_at = p.due_at
    FROM due
    WHERE p.part = %(part)s AND p.execution_id = due.execution_id
      AND p.promise_id = due.promise_id
    RETURNING p.execution_id
),
woken AS (
    UPDATE rhythm.executions w
    SET wake_seq = w.wake_seq + 1,
        run_at = CASE WHEN w.status = 'suspended' THEN %(now)s::timestamptz ELSE w.run_at END,
        updated_at = %(now)s
    FROM (SELECT DISTINCT execution_id FROM fired) f
    WHERE w.part = %(part)s AND w.id = f.execution_id
    RETURNING w.part, w.queue, w.run_at
)
SELECT part::text || ':' || queue AS wake, count(*) AS n
FROM woken WHERE run_at IS NOT NULL GROUP BY part, queue;

-- name: next_timer_due
SELECT min(due_at) AS due FROM rhythm.promises
WHERE part = %(part)s AND state = 'pending' AND due_at IS NOT NULL;

-- name: lock_for_signal
SELECT id, kind, status, queue FROM rhythm.executions
WHERE part = %(part)s AND id = %(id)s
FOR UPDATE;

-- name: open_signal_waits
SELECT promise_id FROM rhythm.promises
WHERE part = %(part)s AND execution_id = %(id)s AND target = %(channel)s AND kind = 'signal'
  AND state = 'pending'
ORDER BY promise_id;

-- name: insert_signal
-- The signal, and its 'signal' history entry (0015, docs/observability.md) in the same
-- statement: the workflow's row is locked by lock_for_signal.
WITH sent AS (
    INSERT INTO rhythm.signals (part, execution_id, channel, payload, sent_at, consumed_by,
                                consumed_at)
    VALUES (%(part)s, %(id)s, %(channel)s, %(payload)s::json, %(now)s, %(consumed_by)s,
            CASE WHEN %(consumed_by)s::int IS NOT NULL THEN %(now)s::timestamptz END)
    RETURNING id
),
numbered AS (
    UPDATE rhythm.executions SET history_seq = history_seq + 1
    WHERE part = %(part)s AND id = %(id)s
    RETURNING id, history_seq, run_no
),
entry AS (
    INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
    SELECT n.id, n.history_seq, %(part)s, %(now)s, 'signal',
           json_build_object('name', %(channel)s::text,
                             'buffered', %(consumed_by)s::int IS NULL,
                             'delivered_to', %(consumed_by)s::int,
                             'run_no', n.run_no)::jsonb
    FROM numbered n
)
SELECT id FROM sent;

-- name: abandon_promises
UPDATE rhythm.promises SET state = 'abandoned'
WHERE part = %(part)s AND execution_id = %(id)s AND promise_id = ANY(%(ids)s::int[]) AND state = 'pending';

-- name: settle_signal_wait
-- A signal settles the oldest live wait of its channel and wakes the execution.
WITH settled AS (
    UPDATE rhythm.promises
    SET state = 'resolved', value = %(payload)s::json, settled_ms = %(now_ms)s,
        settled_at = %(now)s
    WHERE part = %(part)s AND execution_id = %(id)s AND promise_id = %(promise_id)s
      AND state = 'pending'
    RETURNING execution_id
)
UPDATE rhythm.executions w
SET wake_seq = w.wake_seq + 1,
    run_at = CASE WHEN w.status = 'suspended' THEN %(now)s::timestamptz ELSE w.run_at END,
    updated_at = %(now)s
FROM settled
WHERE w.part = %(part)s AND w.id = settled.execution_id
RETURNING CASE WHEN w.run_at IS NOT NULL THEN w.part::text || ':' || w.queue END AS wake;

-- name: resume_with_result
-- First statement of a resumed activation that ends with a parent or effects, delivers a
-- cancellation or adds a signal wait (the other resumed commits are one
-- commit_activations, which has the same guard - keep the two in step): if nothing else
-- happened to the workflow since the commit that started its task and the task is still
-- ours - the workflow is still suspended under that claim token with no run_at (every
-- settlement, cancellation or timer that wakes a suspended workflow sets run_at) and has
-- no buffered signal -
-- record the task's final outcome and claim the workflow under the next token. The
-- activation's usual statements follow in the same transaction under that token; they
-- settle the task's promise (write_promises). No row back = nothing written.
WITH parent AS (
    SELECT id FROM rhythm.executions
    WHERE part = %(part)s AND id = %(id)s AND status = 'suspended' AND claim_token = %(token)s
      AND run_at IS NULL
    FOR UPDATE
),
task AS (
    UPDATE rhythm.executions t
    SET status = %(task_status)s, result = %(task_result)s::json,
        error = %(task_error)s::json, claimed_by = NULL, lease_expires_at = NULL,
        updated_at = %(now)s, finished_at = %(now)s
    WHERE t.part = %(part)s AND t.id = %(task_id)s AND t.claim_token = %(task_token)s
      AND t.status = 'running' AND EXISTS (SELECT 1 FROM parent)
    RETURNING t.id
)
UPDATE rhythm.executions w
SET status = 'running',
    claim_token = w.claim_token + 1,
    claimed_by = %(worker)s,
    lease_expires_at = %(lease_until)s,
    updated_at = %(now)s
FROM parent
WHERE w.part = %(part)s AND w.id = parent.id AND EXISTS (SELECT 1 FROM task)
RETURNING w.claim_token;
