-- Metrics (rhythm.observe.metrics): read by each worker that serves metrics, on an
-- interval (--metrics-interval), never per claim.

-- name: observe_queues
-- Per queue: the executions ready to run now (due, unclaimed: what a claim could take)
-- and the due time of the oldest. One statement over every partition (on Citus a
-- distributed query: fine every few seconds, not on a hot path); the ready index
-- (part, queue, priority, run_at, id) WHERE run_at IS NOT NULL holds both columns.
SELECT queue, count(*) AS depth, min(run_at) AS oldest
FROM rhythm.executions
WHERE run_at IS NOT NULL AND run_at <= %(now)s
GROUP BY queue;

-- name: observe_workers
-- Workers whose heartbeat is recent (since %(since)s).
SELECT count(*) AS alive FROM rhythm.workers WHERE heartbeat_at >= %(since)s;
