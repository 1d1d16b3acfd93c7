-- Constant storage for endless workflows (issue 19, docs/lifecycle.md "Storage"): an
-- activation that suspends deletes, in its own commit, the promises its new snapshot can
-- no longer reach (a settled task's promise whose value was used, a timer that lost a
-- race, a settled combinator...) and the signals those promises consumed. A workflow
-- that loops forever then keeps a bounded number of rows.
--
-- `forget`: the promise ids to delete (the caller computes them: what the activation
-- loaded or created, minus what the snapshot reaches; pending signal waits are never
-- among them, as an un-awaited wait still takes its signal). `taken_gone`: signals that
-- a forgotten wait of this very activation took from the buffer (deleted, not marked).
ALTER TYPE rhythm.activation_commit
    ADD ATTRIBUTE forget integer[],
    ADD ATTRIBUTE taken_gone bigint[];

-- The signals a forgotten promise consumed, found by the promise: consumed ones only
-- (buffered ones are in signals_buffered).
CREATE INDEX signals_consumed ON rhythm.signals (part, execution_id, consumed_by)
    WHERE consumed_by IS NOT NULL;
