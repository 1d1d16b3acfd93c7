-- Metrics (rhythm.observe.metrics): read by each worker that serves metrics, on an
-- interval (--metrics-interval), never per claim.

-- name: queues_runnable
-- Per queue, the claimable rows (pending, retried or woken: run_at set): ready now
-- (``depth``: what a claim could take), due later (``scheduled``) and the earliest
-- run_at of the ready ones (``oldest``). Read by the metrics poller and the dashboard's
-- queues page. One statement over every partition (on Citus a distributed query: fine
-- every few seconds, not on a hot path); an index-only scan of executions_due, partial
-- on run_at IS NOT NULL: as large as the backlog, whatever the table size.
SELECT queue,
       count(*) FILTER (WHERE run_at <= %(now)s) AS depth,
       count(*) FILTER (WHERE run_at > %(now)s) AS scheduled,
       min(run_at) FILTER (WHERE run_at <= %(now)s) AS oldest
FROM rhythm.executions
WHERE run_at IS NOT NULL
GROUP BY queue;

-- name: observe_workers
-- Workers whose heartbeat is recent (since %(since)s).
SELECT count(*) AS alive FROM rhythm.workers WHERE heartbeat_at >= %(since)s;
