-- Queries of the benchmark harness (rhythm.bench) only: never used by the runtime.

-- name: server_settings
-- What a figure depends on: the server and its durability settings.
SELECT current_setting('server_version') AS server_version,
       current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('fsync') AS fsync,
       current_setting('shared_buffers') AS shared_buffers,
       current_setting('wal_sync_method') AS wal_sync_method;

-- name: count_finished
-- Executions of a kind that have ended (the drain's stop condition for workflows).
SELECT count(*) AS finished,
       count(*) FILTER (WHERE status <> 'completed') AS not_completed
FROM rhythm.executions
WHERE kind = %(kind)s AND finished_at IS NOT NULL;

-- name: workflow_ids
-- The workflows a drain waits for (read once, before the clock starts).
SELECT id FROM rhythm.executions WHERE kind = 'workflow';

-- name: fill_pending
-- %(n)s ready no-op task rows in one queue, as queue_task would write them. Over
-- %(partitions)s > 1 partitions each id is in the runtime's generated form ('t-' and 32
-- hex digits), whose first four digits modulo P are its partition
-- (rhythm.runtime.partitions.part_of), so the rows spread over every partition.
INSERT INTO rhythm.executions (id, part, kind, name, inputs, queue, run_at, created_at,
                               updated_at)
SELECT CASE WHEN %(partitions)s = 1 THEN 'bench-' || g
            ELSE 't-' || lpad(to_hex(g %% 65536), 4, '0') || lpad(to_hex(g), 28, '0') END,
       (g %% 65536) %% %(partitions)s,
       'task', 'bench_noop', jsonb_build_object('i', g), %(queue)s, %(now)s, %(now)s, %(now)s
FROM generate_series(1, %(n)s) AS g;

-- name: analyze_executions
ANALYZE rhythm.executions;

-- name: vacuum_executions
-- (ui_pages.py --vacuum: the visibility map set, as autovacuum keeps it in a database
-- that has lived a while; outside a transaction, on an autocommit connection)
VACUUM rhythm.executions;

-- name: snapshot_probe
-- The looping workflow's saved state: activations so far and the snapshot's size. Both
-- tables are filtered by the parameters, not correlated: on Citus a correlated subquery
-- runs on all 32 shards (~70 ms), this one on one.
SELECT s.activations, octet_length(s.snapshot::text) AS text_bytes,
       pg_column_size(s.snapshot) AS stored_bytes,
       (SELECT count(*) FROM rhythm.promises p
        WHERE p.execution_id = %(id)s AND p.part = %(part)s) AS promises
FROM rhythm.snapshots s
WHERE s.execution_id = %(id)s AND s.part = %(part)s;

-- name: vacuum_workflow_tables
-- Before a storage probe: space of deleted rows is reusable, as autovacuum would leave it.
VACUUM rhythm.promises, rhythm.signals, rhythm.snapshots;

-- name: storage_probe
-- Rows and bytes (tables with their indexes and TOAST) of a workflow's own state, and of
-- the executions table apart (the loop's tasks are executions of their own, deleted by
-- retention, not by the loop's commits). Plain Postgres.
SELECT (SELECT count(*) FROM rhythm.promises) + (SELECT count(*) FROM rhythm.signals)
       + (SELECT count(*) FROM rhythm.snapshots) AS workflow_rows,
       pg_total_relation_size('rhythm.promises') + pg_total_relation_size('rhythm.signals')
       + pg_total_relation_size('rhythm.snapshots') AS workflow_bytes,
       (SELECT count(*) FROM rhythm.executions) AS executions,
       pg_total_relation_size('rhythm.executions') AS executions_bytes;

-- name: storage_probe_citus
-- storage_probe on a Citus coordinator (sizes summed over the shards).
SELECT (SELECT count(*) FROM rhythm.promises) + (SELECT count(*) FROM rhythm.signals)
       + (SELECT count(*) FROM rhythm.snapshots) AS workflow_rows,
       citus_total_relation_size('rhythm.promises')
       + citus_total_relation_size('rhythm.signals')
       + citus_total_relation_size('rhythm.snapshots') AS workflow_bytes,
       (SELECT count(*) FROM rhythm.executions) AS executions,
       citus_total_relation_size('rhythm.executions') AS executions_bytes;

-- name: task_start_times
-- When each task of a run started (worker clock), by its loop index.
SELECT (inputs ->> 'i')::int AS i, extract(epoch FROM started_at)::float8 AS started
FROM rhythm.executions
WHERE kind = 'task' AND name = %(name)s AND started_at IS NOT NULL
ORDER BY i;

-- name: execution_status
SELECT status, error FROM rhythm.executions WHERE id = %(id)s;

-- name: empty_runtime_tables
-- Before each run with --citus (rhythm.bench.citus): the coordinator's database emptied
-- of every runtime row, as a fresh database would be (installation keeps the layout).
TRUNCATE rhythm.executions, rhythm.execution_runs, rhythm.snapshots, rhythm.promises,
         rhythm.signals, rhythm.execution_waiters, rhythm.workflow_versions,
         rhythm.task_routes, rhythm.workers, rhythm.queues, rhythm.rate_limits,
         rhythm.schedules, rhythm.history;

-- name: citus_settings
-- With --citus: what the figures were taken on.
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus_version,
       (SELECT count(*) FROM citus_get_active_worker_nodes()) AS worker_nodes,
       (SELECT partitions FROM rhythm.installation) AS partitions;

-- name: route_bench_keyed
-- The keyed no-op task's route, as its worker registers it (rhythm.bench.keyed), before
-- the enqueue: the rows are then born waiting for a slot.
INSERT INTO rhythm.task_routes (name, queue, concurrency, registered_at)
VALUES ('bench_keyed', 'default', '{"key": "k", "limit": 1}', now());

-- name: fill_ui_rows
-- %(n)s task rows for the dashboard's benchmark (benchmarks/ui_pages.py), created over the
-- 30 days before %(now)s: 20 names job_0..job_19, and rare_job for one row in 10,000;
-- statuses as a long-lived database holds them (80 % completed, 10 % failed, 3 %
-- cancelled, 3 % pending, 2 % running, 2 % suspended). One partition. A pending row is
-- claimable from its creation (run_at set, as an enqueue sets it: the claim's indexes
-- hold it, and the queues page counts it there).
INSERT INTO rhythm.executions (id, part, kind, name, status, inputs, result, queue,
                               created_at, updated_at, finished_at, run_at)
SELECT 'bench-' || g, 0, 'task',
       CASE WHEN g %% 10000 = 7 THEN 'rare_job' ELSE 'job_' || (g %% 20) END,
       s.status, jsonb_build_object('i', g),
       CASE WHEN s.status = 'completed' THEN jsonb_build_object('ok', g) END,
       'q' || (g %% 4), c.at, c.at,
       CASE WHEN s.status IN ('completed', 'failed', 'cancelled') THEN c.at END,
       CASE WHEN s.status = 'pending' THEN c.at END
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT %(now)s::timestamptz - (%(n)s - g) * interval '30 days' / %(n)s AS at) c,
     LATERAL (SELECT CASE WHEN abs(hashtext(g::text)) %% 100 < 80 THEN 'completed'
                          WHEN abs(hashtext(g::text)) %% 100 < 90 THEN 'failed'
                          WHEN abs(hashtext(g::text)) %% 100 < 93 THEN 'cancelled'
                          WHEN abs(hashtext(g::text)) %% 100 < 96 THEN 'pending'
                          WHEN abs(hashtext(g::text)) %% 100 < 98 THEN 'running'
                          ELSE 'suspended' END AS status) s;
