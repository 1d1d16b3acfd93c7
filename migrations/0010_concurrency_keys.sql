-- Per-key concurrency (issue 18, docs/flow-control.md): at most `limit` executions of one
-- concurrency key hold a slot at a time, across all workers. An execution with a key is
-- born waiting (admitted = false, run_at NULL: no claim sees it); an admission
-- (rhythm/store/sql/concurrency.sql, run by workers) gives free slots to the oldest
-- waiting rows of the key and makes them claimable. A slot is held from admission to the
-- end of the execution (completed, failed or cancelled): a retry waiting for its backoff,
-- a suspended workflow, a row whose worker died (its lease expires and it runs again)
-- keep it, so that a key's executions never overlap and stay in order.
--
-- Columns are NULL for executions without a key (nearly all): the index is partial, so
-- they pay nothing for it.
ALTER TABLE rhythm.executions
    ADD COLUMN concurrency_key text,
    ADD COLUMN concurrency_limit integer,
    ADD COLUMN admitted boolean;
-- (No `part` in front: a key's executions may live in every partition; counting them is
-- one index range. Per-key concurrency is refused on Citus - docs/flow-control.md.)
-- (`admitted` second: the held slots and the oldest waiting rows are two short ranges,
-- however many rows wait)
CREATE INDEX executions_concurrency
    ON rhythm.executions (concurrency_key, admitted, created_at, id)
    WHERE concurrency_key IS NOT NULL AND status IN ('pending', 'running', 'suspended');

-- A task's key, declared by @rhythm.task(concurrency={"key": path, "limit": n}) and
-- registered by its workers: {"key": ["customer", "id"], "limit": 1}. Every statement
-- that inserts a task reads it with the task's queue.
ALTER TABLE rhythm.task_routes ADD COLUMN concurrency jsonb;
