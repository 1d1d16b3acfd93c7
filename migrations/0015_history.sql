-- Execution history (issue 20, docs/observability.md "History"; the contract shared with
-- the dashboard and upgrades work: rhythm/observe/history.py).
--
-- One row per event of an execution, in order (seq 1, 2, 3 ... per execution): how it
-- started, each activation (where it resumed and stopped, what it found settled, what
-- it requested, and the snapshot it committed, zlib-compressed), the signals that
-- arrived for it, cancellation requests, retries, upgrades, forks. Each row is written
-- in the transaction of what it records: an activation's entry by the activation's own
-- commit (commit_activations, or the pipelined path), the others by the operation.
-- Rows of an execution are deleted with it by the cleaner (cleanup_delete).
CREATE TABLE rhythm.history (
    execution_id    text NOT NULL,
    seq             integer NOT NULL,      -- 1, 2, 3 ... per execution, in order
    part            integer NOT NULL,      -- the execution's partition
    at              timestamptz NOT NULL,  -- from the writer's clock
    kind            text NOT NULL,         -- started, activation, signal, cancel_requested,
                                           -- retry, upgraded, forked
    step            integer,               -- kind 'activation': 1, 2, ... (the snapshot's
                                           -- activations count after that commit)
    worker          text,                  -- worker id that wrote it (NULL: client/CLI)
    detail          jsonb NOT NULL DEFAULT '{}',
    snapshot        bytea,                 -- zlib(JSON text) of the snapshot committed
    snapshot_bytes  integer,               -- size of that JSON text (also over the cap)
    PRIMARY KEY (execution_id, seq, part)
);

-- The next entry's seq, kept on the execution's row: every writer of history already
-- holds (or takes) that row's lock, and an activation's one-statement commit reads the
-- row's latest version when it updates it, so seq is allocated without a read of the
-- history (a max(seq) read under the statement's snapshot would miss an entry committed
-- while the statement waited for the row lock). A constant default: no table rewrite.
ALTER TABLE rhythm.executions ADD COLUMN history_seq integer NOT NULL DEFAULT 0;

-- An activation's entry, carried by its element of the group commit's batch: detail,
-- base64 of the compressed snapshot (absent over the cap), snapshot_bytes, worker.
-- NULL: no entry (a wake-up that settled nothing runs no machine).
ALTER TYPE rhythm.activation_commit ADD ATTRIBUTE history json;

-- On Citus (rhythm migrate --citus after this, or a cluster distributed before it):
-- co-located with the executions, as every runtime table.
DO $$
BEGIN
    IF (SELECT citus FROM rhythm.installation) THEN
        PERFORM create_distributed_table('rhythm.history', 'part',
                                         colocate_with => 'rhythm.executions');
    END IF;
END $$;
