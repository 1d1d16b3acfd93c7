-- Named queries of bulk retry and cancel (rhythm.lifecycle.bulk, docs/lifecycle.md).
-- A bulk operation selects the executions it is about in pages of one partition
-- (select_for_bulk, or read_executions for ids the caller gave), then applies the same
-- statements as the single-id operation to each page (cancel_executions; lock_retryable,
-- archive_run, clear_run_state, retry_executions: runtime.sql), one short transaction
-- per page.

-- name: select_for_bulk
-- One page of the executions of partition %(part)s that match the filters (NULL: not
-- asked), newest first, after the previous page's last (created_at, id): keyset, so a
-- page costs the same however far the walk has gone. No lock: the statements applied
-- to the page check each row's status again.
SELECT id, kind, name, version, status, created_at
FROM rhythm.executions
WHERE part = %(part)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
  AND (%(after_at)s::timestamptz IS NULL OR created_at <= %(after_at)s)
  AND (%(after_at)s::timestamptz IS NULL OR created_at < %(after_at)s
       OR id > %(after_id)s)
ORDER BY created_at DESC, id
LIMIT %(limit)s;

-- name: read_executions
-- The executions among %(ids)s (one partition) as they are now: the ids a caller named,
-- and the state a retry checks before it locks anything.
SELECT id, kind, name, version, status, created_at
FROM rhythm.executions
WHERE part = %(part)s AND id = ANY(%(ids)s::text[])
ORDER BY id;

-- name: lock_retryable
-- The failed or cancelled executions among %(ids)s, locked in id order (two retries
-- over the same rows wait for each other instead of deadlocking) until retry_executions.
SELECT id
FROM rhythm.executions
WHERE part = %(part)s AND id = ANY(%(ids)s::text[]) AND status IN ('failed', 'cancelled')
ORDER BY id
FOR UPDATE;
