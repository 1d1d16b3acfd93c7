-- Retention and cleanup (issue 19, docs/lifecycle.md "Retention and cleanup").
--
-- Per-queue retention of ended executions, set with `rhythm queue set Q --task-retention
-- 14d --workflow-retention 90d` (or [queues.NAME] in rhythm.toml): seconds an ended
-- execution of that kind is kept after its finished_at. NULL = the worker's default
-- ([retention] in rhythm.toml: 7 days for tasks, 30 for workflows); -1 = never deleted
-- (the value `never`, as Kafka's retention.ms = -1); 0 = deleted by the next cleaner pass.
ALTER TABLE rhythm.queues
    ADD COLUMN task_retention_s bigint CHECK (task_retention_s >= -1),
    ADD COLUMN workflow_retention_s bigint CHECK (workflow_retention_s >= -1);

-- Deleting an execution deletes its signals through the foreign key (ON DELETE CASCADE):
-- one lookup by (execution_id, part) per deleted row. No index served it (signals_buffered
-- holds the unconsumed signals only, signals_consumed (0013) the consumed ones only), so
-- each lookup read every signal of the table: at 500 executions a batch, 500 scans. One
-- index over all signals serves it, and the lookups of 0013 as well (part, execution_id
-- and consumed_by, all by equality), so it replaces signals_consumed: still two indexes on
-- signals. Its cost over 0013's: an entry for a buffered signal too, written when the
-- signal is sent (consuming one was already a non-HOT update that writes an entry).
CREATE INDEX signals_execution ON rhythm.signals (part, execution_id, consumed_by);
DROP INDEX rhythm.signals_consumed;
