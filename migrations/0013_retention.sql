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

-- Deleting an execution deletes its signals through the foreign key (ON DELETE CASCADE),
-- one lookup by (execution_id, part) per deleted row. No index served that lookup
-- (signals_buffered holds only unconsumed signals), so each one read the whole table:
-- at 500 executions a batch, 500 scans of signals. The cost of this index: one more
-- entry written per signal sent and per signal consumed (already a non-HOT update, as
-- consumed_by is in signals_buffered's predicate); completions, claims and steps without
-- signals pay nothing. Every other table the cleaner deletes from is reached by a key
-- that leads with the execution id.
CREATE INDEX signals_execution ON rhythm.signals (execution_id, part);
