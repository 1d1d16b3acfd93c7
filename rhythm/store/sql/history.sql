-- Execution history (issue 20, migration 0015, docs/observability.md "History";
-- rhythm/observe/history.py). Entries are appended in the transaction of what they
-- record; seq comes from the execution row's history_seq, whose update also takes (or
-- finds held) the row lock that orders every writer of an execution's history.

-- name: record_activation
-- An activation's entry on the pipelined commit path (commit_activations writes its
-- own): sent after lock_claimed and before the snapshot is saved or deleted, so step is
-- the activations count before this commit plus one. %(snapshot)s is the snapshot as
-- stored (rhythm.observe.entries.Packed: its JSON text or zlib of it; NULL over the cap).
WITH numbered AS (
    UPDATE rhythm.executions SET history_seq = history_seq + 1
    WHERE part = %(part)s AND id = %(id)s
    RETURNING id, history_seq
)
INSERT INTO rhythm.history
    (execution_id, seq, part, at, kind, step, worker, detail, snapshot, snapshot_bytes)
SELECT n.id, n.history_seq, %(part)s, %(now)s, 'activation',
       coalesce((SELECT s.activations FROM rhythm.snapshots s
                 WHERE s.part = %(part)s AND s.execution_id = n.id), 0) + 1,
       %(worker)s, %(detail)s::json, %(snapshot)s::bytea, %(snapshot_bytes)s::int
FROM numbered n;

-- name: record_entry
-- Any other entry (started, signal, cancel_requested, retry, upgraded, forked), in the
-- caller's transaction. No row back: no such execution.
WITH numbered AS (
    UPDATE rhythm.executions SET history_seq = history_seq + 1
    WHERE part = %(part)s AND id = %(id)s
    RETURNING id, history_seq
)
INSERT INTO rhythm.history (execution_id, seq, part, at, kind, worker, detail)
SELECT n.id, n.history_seq, %(part)s, %(at)s, %(kind)s, %(worker)s, %(detail)s::json
FROM numbered n
RETURNING seq;

-- name: read_history
SELECT seq, at, kind, step, worker, detail, snapshot_bytes
FROM rhythm.history
WHERE part = %(part)s AND execution_id = %(id)s
ORDER BY seq;

-- name: history_snapshot
-- The snapshot of activation %(step)s (the latest such step: an execution run again
-- from the start numbers its steps from 1 again).
SELECT snapshot, snapshot_bytes, detail
FROM rhythm.history
WHERE part = %(part)s AND execution_id = %(id)s AND kind = 'activation' AND step = %(step)s
ORDER BY seq DESC
LIMIT 1;

-- name: history_execution
-- The execution an inspection or a history read is about (no row: no such execution).
SELECT e.id, e.kind, e.name, e.version, e.status, e.inputs,
       s.snapshot, s.waiting_on, s.activations
FROM rhythm.executions e
LEFT JOIN rhythm.snapshots s ON s.part = e.part AND s.execution_id = e.id
WHERE e.part = %(part)s AND e.id = %(id)s;

-- name: inspect_promises
-- Promises %(ids)s of an execution (what it waits on, and a combinator's members), with
-- the state of the task or child each one awaits (in the same partition: a task with an
-- idempotency key lives in its key's, and shows no state) and, for a signal wait, how
-- many signals of its channel are buffered.
SELECT p.promise_id, p.kind, p.target, p.state, p.params, p.due_at,
       e.status AS target_status, e.attempt AS target_attempt,
       CASE WHEN p.kind = 'signal'
            THEN (SELECT count(*) FROM rhythm.signals g
                  WHERE g.part = %(part)s AND g.execution_id = %(id)s
                    AND g.channel = p.target AND g.consumed_by IS NULL) END AS buffered
FROM rhythm.promises p
LEFT JOIN rhythm.executions e
       ON e.part = %(part)s AND e.id = p.target AND p.kind IN ('task', 'child')
WHERE p.part = %(part)s AND p.execution_id = %(id)s AND p.promise_id = ANY(%(ids)s::int[])
ORDER BY p.promise_id;

-- name: record_entries
-- One entry of %(kind)s for each workflow of %(ids)s (one partition; rows the caller's
-- transaction has locked: a cancel, a retry), detail %(detail)s plus its run_no.
WITH numbered AS (
    UPDATE rhythm.executions SET history_seq = history_seq + 1
    WHERE part = %(part)s AND id = ANY(%(ids)s::text[]) AND kind = 'workflow'
    RETURNING id, history_seq, run_no
)
INSERT INTO rhythm.history (execution_id, seq, part, at, kind, detail)
SELECT n.id, n.history_seq, %(part)s, %(at)s, %(kind)s,
       %(detail)s::jsonb || json_build_object('run_no', n.run_no)::jsonb
FROM numbered n;
