-- Task idempotency keys (issue 18, docs/flow-control.md): at most one execution per
-- (task name, key). The key is kept in its own column so that a unique index makes two
-- requests at the same instant - from two clients, two workers, or a client and a
-- workflow - one execution: the second insert finds the first (ON CONFLICT DO NOTHING)
-- instead of a read-then-write race. A keyed execution lives in the partition of its
-- key (rhythm.runtime.partitions.keyed_id), so the index, which ends with `part` as
-- every unique key must on Citus, still means "one per name and key".
--
-- The index is partial: rows without a key (nearly all) are not in it, so an ordinary
-- insert or claim pays nothing for it.
ALTER TABLE rhythm.executions ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX executions_idempotency ON rhythm.executions (name, idempotency_key, part)
    WHERE idempotency_key IS NOT NULL;

-- Who else awaits a keyed execution: every workflow that asked for it (the first one
-- too - a keyed row has no parent_id, so that no requester's cancellation cancels the
-- others' task). Rows live in the partition of the awaited execution (`part`) and are
-- taken (deleted) by the transaction that ends it, which settles each waiter's promise
-- in the waiter's partition (`waiter_part`; on Citus, that write may be on another
-- shard: a two-phase commit, keyed tasks only).
CREATE TABLE rhythm.execution_waiters (
    part          integer NOT NULL,
    execution_id  text NOT NULL,
    waiter_part   integer NOT NULL,
    waiter_id     text NOT NULL,
    promise_id    integer NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (execution_id, waiter_id, promise_id, part)
);
-- A database already distributed on Citus (rhythm migrate --citus before this migration)
-- distributes the new table next to executions at once, before its foreign key (Citus
-- takes none from a local table to a distributed one); a plain one leaves it to
-- distribute_tables (rhythm/store/sql/partitions.sql), which a later --citus runs.
DO $$
BEGIN
    IF (SELECT citus FROM rhythm.installation) THEN
        PERFORM create_distributed_table('rhythm.execution_waiters', 'part',
                                         colocate_with => 'rhythm.executions');
    END IF;
END
$$;
ALTER TABLE rhythm.execution_waiters ADD CONSTRAINT execution_waiters_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
