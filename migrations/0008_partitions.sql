-- Partitions (issue 17): every runtime table gets `part`, the partition its rows live in,
-- in every key, so that on Citus a table is distributed by it and everything of one
-- workflow tree (the root, its tasks and child workflows, their snapshots, promises and
-- signals) is on one shard: an activation, a claim, a completion or a signal is then a
-- single-shard transaction. The number of partitions P is fixed when the database is set
-- up (`rhythm migrate --partitions P`, kept here in rhythm.installation; 1 unless said);
-- the partition of an execution is a function of its id (rhythm.runtime.partitions).
-- Rows written before this migration are in partition 0, which is where P = 1 puts them.
--
-- Keys end with `part` (Citus wants it in every unique key; where it stands is ours to
-- choose): a key that led with it let generic plans read a whole partition for
-- `execution_id = ANY(...)`, and with P = 1 that is every row.
--
-- Design notes, what crosses partitions and what it costs: docs/scaling.md.

ALTER TABLE rhythm.installation
    ADD COLUMN partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 4096),
    ADD COLUMN citus boolean NOT NULL DEFAULT false;

-- The keys that point at executions are re-made with the partition in them.
ALTER TABLE rhythm.snapshots DROP CONSTRAINT snapshots_execution_id_fkey;
ALTER TABLE rhythm.promises DROP CONSTRAINT promises_execution_id_fkey;
ALTER TABLE rhythm.signals DROP CONSTRAINT signals_execution_id_fkey;

ALTER TABLE rhythm.executions ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE rhythm.executions DROP CONSTRAINT executions_pkey;
ALTER TABLE rhythm.executions ADD PRIMARY KEY (id, part);

ALTER TABLE rhythm.execution_runs ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE rhythm.execution_runs DROP CONSTRAINT execution_runs_pkey;
ALTER TABLE rhythm.execution_runs ADD PRIMARY KEY (id, run_no, part);

ALTER TABLE rhythm.snapshots ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE rhythm.snapshots DROP CONSTRAINT snapshots_pkey;
ALTER TABLE rhythm.snapshots ADD PRIMARY KEY (execution_id, part);

-- settle_seq was written but never read (settlement order comes from settled_ms and
-- promise ids), and a sequence cannot be drawn inside a statement Citus routes to a shard.
ALTER TABLE rhythm.promises DROP COLUMN settle_seq;
DROP SEQUENCE rhythm.settle_seq;
ALTER TABLE rhythm.promises ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE rhythm.promises DROP CONSTRAINT promises_pkey;
ALTER TABLE rhythm.promises ADD PRIMARY KEY (execution_id, promise_id, part);

ALTER TABLE rhythm.signals ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE rhythm.signals DROP CONSTRAINT signals_pkey;
ALTER TABLE rhythm.signals ADD PRIMARY KEY (id, part);

ALTER TABLE rhythm.snapshots ADD CONSTRAINT snapshots_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
ALTER TABLE rhythm.promises ADD CONSTRAINT promises_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
ALTER TABLE rhythm.signals ADD CONSTRAINT signals_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;

-- The indexes a claim, a probe, the reaper and the timer wheel walk lead with the
-- partition too: each of those statements names one.
DROP INDEX rhythm.executions_ready;
CREATE INDEX executions_ready ON rhythm.executions (part, queue, priority DESC, run_at, id)
    WHERE run_at IS NOT NULL;
DROP INDEX rhythm.executions_due;
CREATE INDEX executions_due ON rhythm.executions (part, queue, run_at)
    WHERE run_at IS NOT NULL;
DROP INDEX rhythm.executions_leases;
CREATE INDEX executions_leases ON rhythm.executions (part, lease_expires_at)
    WHERE status = 'running';
DROP INDEX rhythm.executions_parent;
CREATE INDEX executions_parent ON rhythm.executions (part, parent_id)
    WHERE parent_id IS NOT NULL;
DROP INDEX rhythm.promises_due;
CREATE INDEX promises_due ON rhythm.promises (part, due_at)
    WHERE state = 'pending' AND due_at IS NOT NULL;
DROP INDEX rhythm.promises_signal_waits;
CREATE INDEX promises_signal_waits ON rhythm.promises (part, execution_id, target, promise_id)
    WHERE state = 'pending' AND kind = 'signal';
DROP INDEX rhythm.promises_open_combinators;
CREATE INDEX promises_open_combinators ON rhythm.promises (part, execution_id)
    WHERE state = 'pending' AND kind = 'combinator';
DROP INDEX rhythm.signals_buffered;
CREATE INDEX signals_buffered ON rhythm.signals (part, execution_id, channel, id)
    WHERE consumed_by IS NULL;
