-- Queue controls and rate limits (issue 18, docs/flow-control.md, sections "Queues" and
-- "Rate limits").
--
-- rhythm.queues: what an operator set per queue (`rhythm queue pause|resume|set`). A
-- queue not listed here is running and unlimited. `rate_limit` is the spec as given
-- ("1000/min"); `rate_per_s` and `burst` are what it means (the token bucket's refill
-- rate and capacity). Workers read it at start and whenever a NOTIFY on rhythm_wake says
-- '!limits' (sent in the transaction that changes it).
CREATE TABLE rhythm.queues (
    name        text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    rate_limit  text,
    rate_per_s  float8,
    burst       integer,
    updated_at  timestamptz NOT NULL
);

-- A task name's rate limit (@rhythm.task(rate_limit=...)), registered by workers with
-- the name's queue.
ALTER TABLE rhythm.task_routes ADD COLUMN rate_limit text;

-- One token bucket per limit (scope 'queue' or 'task', and its name) and partition: a
-- claim names one partition and takes tokens from that partition's buckets only, in the
-- claim statement itself (claim_limited). Each partition's bucket has 1/P of the limit's
-- rate and capacity (at least one token of capacity), so the P buckets together hold
-- the limit; with P = 1 it is exact. `part` ends the key, as every key must on Citus.
CREATE TABLE rhythm.rate_limits (
    scope        text NOT NULL CHECK (scope IN ('queue', 'task')),
    name         text NOT NULL,
    part         integer NOT NULL,
    capacity     float8 NOT NULL CHECK (capacity >= 1),
    rate_per_s   float8 NOT NULL CHECK (rate_per_s > 0),
    tokens       float8 NOT NULL,
    refilled_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, name, part)
);

-- A database already distributed on Citus takes the new tables at once (as 0009 does):
-- the buckets next to executions (a claim's statement stays on one shard), the queue
-- settings a reference table. A plain one leaves it to distribute_tables.
DO $$
BEGIN
    IF (SELECT citus FROM rhythm.installation) THEN
        PERFORM create_distributed_table('rhythm.rate_limits', 'part',
                                         colocate_with => 'rhythm.executions');
        PERFORM create_reference_table('rhythm.queues');
    END IF;
END
$$;
