-- Named queries of queue controls and rate limits (issue 18, docs/flow-control.md,
-- "Queues" and "Rate limits"; rhythm/runtime/limits.py). Times come from the runtime's
-- clock (%(now)s); statements on the buckets name their partition.

-- name: read_queue_controls
-- What workers obey: paused queues and queue rate limits (at start, and on '!limits').
SELECT name, paused, rate_limit FROM rhythm.queues
WHERE paused OR rate_limit IS NOT NULL
ORDER BY name;

-- name: read_task_limits
-- Rate-limited task names and the queue each is routed to.
SELECT name, queue, rate_limit FROM rhythm.task_routes
WHERE rate_limit IS NOT NULL
ORDER BY name;

-- name: set_queue
-- `rhythm queue pause|resume|set`: a NULL %(paused)s keeps the flag, %(set_rate)s false
-- keeps the limit, %(set_task_retention)s / %(set_workflow_retention)s false keep the
-- retention (0014; NULL: the default, -1: never). The caller sends '!limits' in the same
-- transaction.
INSERT INTO rhythm.queues AS q (name, paused, rate_limit, rate_per_s, burst, updated_at,
                                task_retention_s, workflow_retention_s)
VALUES (%(name)s, coalesce(%(paused)s, false), %(rate_limit)s, %(rate_per_s)s, %(burst)s,
        %(now)s, %(task_retention_s)s, %(workflow_retention_s)s)
ON CONFLICT (name) DO UPDATE
SET paused = coalesce(%(paused)s, q.paused),
    rate_limit = CASE WHEN %(set_rate)s THEN excluded.rate_limit ELSE q.rate_limit END,
    rate_per_s = CASE WHEN %(set_rate)s THEN excluded.rate_per_s ELSE q.rate_per_s END,
    burst = CASE WHEN %(set_rate)s THEN excluded.burst ELSE q.burst END,
    task_retention_s = CASE WHEN %(set_task_retention)s THEN excluded.task_retention_s
                            ELSE q.task_retention_s END,
    workflow_retention_s = CASE WHEN %(set_workflow_retention)s
                                THEN excluded.workflow_retention_s
                                ELSE q.workflow_retention_s END,
    updated_at = excluded.updated_at
RETURNING name, paused, rate_limit, task_retention_s, workflow_retention_s;

-- name: sync_rate_limits
-- Make the buckets what the limits say (%(buckets)s: scope, name, capacity and rate of
-- each partition's bucket), in every partition: new ones start full, changed ones keep
-- their tokens (at most the new capacity), those of removed limits go - unless a limit
-- committed since the caller read them (a `rhythm queue set` and a worker's
-- registration at the same moment) still asks for them.
WITH wanted AS (
    SELECT b.scope, b.name, p.part, b.capacity, b.rate
    FROM jsonb_to_recordset(%(buckets)s::jsonb)
         AS b(scope text, name text, capacity float8, rate float8)
    CROSS JOIN generate_series(0, %(partitions)s - 1) AS p(part)
),
upserted AS (
    INSERT INTO rhythm.rate_limits AS r
        (scope, name, part, capacity, rate_per_s, tokens, refilled_at)
    SELECT scope, name, part, capacity, rate, capacity, %(now)s FROM wanted
    ON CONFLICT (scope, name, part) DO UPDATE
    SET capacity = excluded.capacity, rate_per_s = excluded.rate_per_s,
        tokens = least(r.tokens, excluded.capacity)
    WHERE r.capacity <> excluded.capacity OR r.rate_per_s <> excluded.rate_per_s
    RETURNING 1
)
DELETE FROM rhythm.rate_limits r
WHERE NOT EXISTS (SELECT FROM wanted w
                  WHERE w.scope = r.scope AND w.name = r.name AND w.part = r.part)
  AND NOT EXISTS (SELECT FROM rhythm.queues q
                  WHERE r.scope = 'queue' AND q.name = r.name AND q.rate_limit IS NOT NULL)
  AND NOT EXISTS (SELECT FROM rhythm.task_routes t
                  WHERE r.scope = 'task' AND t.name = r.name AND t.rate_limit IS NOT NULL);

-- name: claim_limited
-- The claim of a queue that has a rate limit or carries rate-limited task names (the
-- plain `claim` serves every other queue, unchanged). One statement, as `claim`:
-- 1. lock this partition's buckets of the queue and of %(task_names)s (FOR UPDATE, in
--    key order; a second claimer waits here and then reads the newest tokens), refilled
--    to now;
-- 2. pick ready rows as `claim` does, leaving out task names whose bucket has no whole
--    token (and everything when the queue's bucket has none: no row is read then);
-- 3. keep at most floor(tokens) tasks per name bucket and, among those, floor(tokens)
--    rows per queue bucket (a queue's limit counts every claim of the queue, workflow
--    activations too);
-- 4. claim them and take from each bucket the number actually claimed.
-- Every row carries queue_due / task_due: when the queue's bucket, or the first empty
-- task bucket, has its next token (NULL: it has one now); with nothing claimed, one row
-- of NULLs carries them. A worker whose claim came back short sleeps until then.
WITH buckets AS MATERIALIZED (
    SELECT scope, name, rate_per_s,
           least(capacity, tokens + rate_per_s
                 * greatest(extract(epoch FROM %(now)s::timestamptz - refilled_at), 0))
               AS avail
    FROM rhythm.rate_limits
    WHERE part = %(part)s
      AND ((scope = 'queue' AND name = %(queue)s)
           OR (scope = 'task' AND name = ANY(%(task_names)s::text[])))
    ORDER BY scope, name
    FOR UPDATE
),
picked AS MATERIALIZED (
    SELECT id, name, kind, row_number() OVER () AS pick FROM (
        SELECT id, name, kind FROM rhythm.executions
        WHERE part = %(part)s AND queue = %(queue)s AND run_at IS NOT NULL
          AND run_at <= %(now)s AND kind = ANY(%(kinds)s::text[])
          AND (kind = 'workflow' OR %(names)s::text[] IS NULL
               OR name = ANY(%(names)s::text[]))
          AND NOT EXISTS (SELECT FROM buckets b WHERE b.scope = 'queue' AND b.avail < 1)
          AND (kind <> 'task'
               OR name <> ALL (ARRAY(SELECT b.name FROM buckets b
                                     WHERE b.scope = 'task' AND b.avail < 1)))
        ORDER BY priority DESC, run_at, id
        -- no more rows read and locked than the queue's tokens allow
        LIMIT least(%(limit)s, (SELECT floor(b.avail)::int FROM buckets b
                                WHERE b.scope = 'queue'))
        FOR UPDATE SKIP LOCKED) rows
),
per_name AS (
    SELECT p.id, p.kind, p.pick,
           p.kind <> 'task' OR t.name IS NULL
           OR row_number() OVER (PARTITION BY p.kind, p.name ORDER BY p.pick)
              <= floor(t.avail) AS fits
    FROM picked p
    LEFT JOIN buckets t ON t.scope = 'task' AND t.name = p.name AND p.kind = 'task'
),
per_queue AS (
    SELECT f.id, f.pick, row_number() OVER (ORDER BY f.pick) AS taken
    FROM per_name f
    WHERE f.fits
),
ready AS MATERIALIZED (
    SELECT q.id, q.pick FROM per_queue q
    WHERE q.taken <= coalesce((SELECT floor(b.avail) FROM buckets b WHERE b.scope = 'queue'),
                              q.taken)
),
claimed AS (
    UPDATE rhythm.executions e
    SET status = 'running',
        run_at = NULL,
        claim_token = e.claim_token + 1,
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
              e.max_retries, e.lease_losses, NULLIF(e.options, '{}') AS options,
              e.claim_token, e.cancel_requested, e.parent_id, e.parent_promise, e.wake_seq,
              e.part,
              CASE WHEN e.kind = 'workflow' THEN e.started_at END AS started_at,
              CASE WHEN e.kind = 'workflow'
                   THEN NOT EXISTS (SELECT FROM rhythm.snapshots s
                                    WHERE s.part = %(part)s AND s.execution_id = e.id)
                        AND NOT EXISTS (SELECT FROM rhythm.signals g
                                        WHERE g.part = %(part)s AND g.execution_id = e.id
                                          AND g.consumed_by IS NULL)
                   ELSE false END AS fresh,
              ready.pick
),
spent AS (
    UPDATE rhythm.rate_limits r
    SET tokens = b.avail - (SELECT count(*) FROM claimed c
                            WHERE b.scope = 'queue'
                               OR (c.kind = 'task' AND c.name = b.name)),
        -- (never back: a claimer that waited for the lock may hold an older now than
        -- the one before it, whose refill up to its own now is already counted)
        refilled_at = greatest(r.refilled_at, %(now)s)
    FROM buckets b
    WHERE r.part = %(part)s AND r.scope = b.scope AND r.name = b.name
    RETURNING r.scope, r.tokens, r.rate_per_s
),
due AS (
    SELECT min(%(now)s::timestamptz + make_interval(secs => (1 - s.tokens) / s.rate_per_s))
               FILTER (WHERE s.scope = 'queue' AND s.tokens < 1) AS queue_due,
           min(%(now)s::timestamptz + make_interval(secs => (1 - s.tokens) / s.rate_per_s))
               FILTER (WHERE s.scope = 'task' AND s.tokens < 1) AS task_due
    FROM spent s
)
SELECT c.*, d.queue_due, d.task_due
FROM due d LEFT JOIN claimed c ON true
ORDER BY c.pick;

-- name: queue_overview
-- `rhythm queue list`: every queue known from live executions, task routes or settings,
-- with its depth by status, the age of its oldest pending execution, its settings and
-- the rate limits of the task names routed to it. (Reads every partition.)
WITH depth AS (
    SELECT queue,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'pending' AND run_at <= %(now)s) AS ready,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'suspended') AS suspended,
           min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending
    FROM rhythm.executions
    WHERE status IN ('pending', 'running', 'suspended')
    GROUP BY queue
),
routed AS (
    SELECT queue, string_agg(name || '=' || rate_limit, ', ' ORDER BY name) AS task_limits
    FROM rhythm.task_routes
    WHERE rate_limit IS NOT NULL
    GROUP BY queue
),
names AS (
    SELECT queue AS name FROM depth
    UNION SELECT queue FROM rhythm.task_routes
    UNION SELECT name FROM rhythm.queues
)
SELECT n.name,
       coalesce(d.pending, 0) AS pending, coalesce(d.ready, 0) AS ready,
       coalesce(d.running, 0) AS running, coalesce(d.suspended, 0) AS suspended,
       extract(epoch FROM %(now)s::timestamptz - d.oldest_pending)::float8
           AS oldest_pending_s,
       q.rate_limit, coalesce(q.paused, false) AS paused, r.task_limits,
       q.task_retention_s, q.workflow_retention_s
FROM names n
LEFT JOIN depth d ON d.queue = n.name
LEFT JOIN rhythm.queues q ON q.name = n.name
LEFT JOIN routed r ON r.queue = n.name
ORDER BY n.name;
