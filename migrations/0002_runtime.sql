-- The durable runtime: executions (the row *is* the queue entry), workflow state,
-- promises (tasks, children, timers, signal waits), signals, versions and workers.
-- Design notes and the reasons behind each index: docs/runtime.md.
--
-- Hot-path rules this schema is built around:
--  * a claim is one UPDATE over a SKIP LOCKED sub-select served by executions_ready;
--  * partial indexes on "run_at IS NOT NULL" only receive entries when a row becomes
--    runnable, so claiming (run_at := NULL) and finishing stay cheap at a million rows;
--  * the workflow snapshot lives in its own table so the queue row stays narrow;
--  * every transition names the state and claim_token it expects (fencing).

CREATE SCHEMA IF NOT EXISTS rhythm;

CREATE TABLE rhythm.executions (
    id                text PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('task', 'workflow')),
    name              text NOT NULL,
    version           text,                       -- workflows: SHA-256 of the .flow source
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'suspended',
                                        'completed', 'failed', 'cancelled')),
    inputs            jsonb NOT NULL DEFAULT '{}'::jsonb,
    result            jsonb,
    error             jsonb,                      -- terminal error, or the last attempt's error
    parent_id         text,                       -- the workflow that started this one
    parent_promise    integer,                    -- ... and the promise this one settles there
    queue             text NOT NULL DEFAULT 'default',
    priority          integer NOT NULL DEFAULT 0, -- higher runs first
    attempt           integer NOT NULL DEFAULT 0, -- claims that ran user code (tasks)
    max_retries       integer,                    -- NULL: the task's own setting
    lease_losses      integer NOT NULL DEFAULT 0, -- claims lost to a dead worker (capped)
    options           jsonb NOT NULL DEFAULT '{}'::jsonb,  -- timeout, backoff, ...
    run_at            timestamptz,                -- claimable from then on; NULL = not ready
    claim_token       bigint NOT NULL DEFAULT 0,  -- fencing: +1 on every claim
    claimed_by        text,
    lease_expires_at  timestamptz,
    cancel_requested  boolean NOT NULL DEFAULT false,
    wake_seq          bigint NOT NULL DEFAULT 0,  -- +1 whenever one of its promises settles
    run_no            integer NOT NULL DEFAULT 1, -- +1 when an id is reused (guarantee 8)
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CHECK ((parent_id IS NULL) = (parent_promise IS NULL))
);

-- The claim path: per queue, highest priority first, then oldest due.
CREATE INDEX executions_ready ON rhythm.executions (queue, priority DESC, run_at, id)
    WHERE run_at IS NOT NULL;
-- When is the next row of a queue due (how long an idle worker may sleep)?
CREATE INDEX executions_due ON rhythm.executions (queue, run_at)
    WHERE run_at IS NOT NULL;
-- The lease reaper: running rows whose worker stopped renewing.
CREATE INDEX executions_leases ON rhythm.executions (lease_expires_at)
    WHERE status = 'running';
-- Children of a workflow (cancellation, parent wake-up bookkeeping).
CREATE INDEX executions_parent ON rhythm.executions (parent_id)
    WHERE parent_id IS NOT NULL;
-- `rhythm list`, newest first.
CREATE INDEX executions_created ON rhythm.executions (created_at DESC, id);

-- Earlier runs of an id that was started again after failing or being cancelled.
CREATE TABLE rhythm.execution_runs (
    id           text NOT NULL,
    run_no       integer NOT NULL,
    status       text NOT NULL,
    inputs       jsonb NOT NULL,
    result       jsonb,
    error        jsonb,
    attempt      integer NOT NULL,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    PRIMARY KEY (id, run_no)
);

-- The saved state machine of a workflow (kept out of the narrow queue row).
CREATE TABLE rhythm.snapshots (
    execution_id     text PRIMARY KEY REFERENCES rhythm.executions (id) ON DELETE CASCADE,
    snapshot         jsonb NOT NULL,
    next_promise_id  integer NOT NULL,            -- host-assigned ids keep increasing
    activations      integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Every effect a workflow requested. Timers and signal-wait timeouts are promises with
-- a due_at, so firing one is a single UPDATE of the row that it settles.
CREATE SEQUENCE rhythm.settle_seq;
CREATE TABLE rhythm.promises (
    execution_id  text NOT NULL REFERENCES rhythm.executions (id) ON DELETE CASCADE,
    promise_id    integer NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('task', 'child', 'timer', 'signal')),
    target        text,          -- task/child execution id, or the signal channel
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'resolved', 'rejected', 'abandoned')),
    value         jsonb,         -- the value, or the error when rejected
    due_at        timestamptz,   -- timers; signal waits with a timeout
    created_at    timestamptz NOT NULL DEFAULT now(),
    settled_at    timestamptz,
    settle_seq    bigint,        -- global settlement order (race ties, "first in time")
    PRIMARY KEY (execution_id, promise_id)
);
CREATE INDEX promises_due ON rhythm.promises (due_at)
    WHERE state = 'pending' AND due_at IS NOT NULL;
-- Oldest pending wait of a channel gets the next signal (FIFO).
CREATE INDEX promises_signal_waits ON rhythm.promises (execution_id, target, promise_id)
    WHERE state = 'pending' AND kind = 'signal';

-- Durable signals, FIFO per (execution, channel) by id; consumed exactly once.
CREATE TABLE rhythm.signals (
    id            bigserial PRIMARY KEY,
    execution_id  text NOT NULL REFERENCES rhythm.executions (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    payload       jsonb NOT NULL DEFAULT 'null'::jsonb,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    consumed_by   integer,       -- the promise that received it; NULL while buffered
    consumed_at   timestamptz
);
CREATE INDEX signals_buffered ON rhythm.signals (execution_id, channel, id)
    WHERE consumed_by IS NULL;

-- Every workflow version ever registered; the newest registration of a name is current.
CREATE TABLE rhythm.workflow_versions (
    name           text NOT NULL,
    version        text NOT NULL,                 -- SHA-256 of the source (\n line endings)
    source         text NOT NULL,
    source_path    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE INDEX workflow_versions_current ON rhythm.workflow_versions (name, registered_at DESC);

-- Where each task name runs (registered by workers), so a client that has not imported
-- the task's module still queues it on the right queue.
CREATE TABLE rhythm.task_routes (
    name           text PRIMARY KEY,
    queue          text NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

-- Live workers (heartbeat); informational and used to spot dead ones early.
CREATE TABLE rhythm.workers (
    id            text PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    queues        text[] NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
