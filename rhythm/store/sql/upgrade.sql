-- Upgrading running workflows (rhythm/upgrade/, docs/upgrades.md).

-- name: upgrade_candidates
-- The executions of a workflow pinned to another version than the target that are
-- suspended (they may move) or running (reported as skipped), one partition; with the
-- claim token their snapshot was read under (the move's fence).
SELECT e.id, e.version, e.status, e.claim_token, s.snapshot
FROM rhythm.executions e
LEFT JOIN rhythm.snapshots s ON s.part = e.part AND s.execution_id = e.id
WHERE e.part = %(part)s AND e.kind = 'workflow' AND e.name = %(name)s
  AND e.version IS NOT NULL AND e.version <> %(to_version)s
  AND (%(from_version)s::text IS NULL OR e.version = %(from_version)s)
  AND e.status IN ('suspended', 'running')
ORDER BY e.id;

-- name: upgrade_candidate
-- One execution an upgrade of that execution alone would move (the dashboard's "Upgrade
-- to latest"): the columns of upgrade_candidates, its name and kind, whatever its status.
SELECT e.id, e.kind, e.name, e.version, e.status, e.claim_token, s.snapshot
FROM rhythm.executions e
LEFT JOIN rhythm.snapshots s ON s.part = e.part AND s.execution_id = e.id
WHERE e.part = %(part)s AND e.id = %(id)s;

-- name: move_execution
-- The fenced move: only if still suspended under the claim token the plan read (an
-- activation claims with token + 1), and still on the version it was planned from.
UPDATE rhythm.executions
SET version = %(to_version)s, updated_at = %(now)s
WHERE part = %(part)s AND id = %(id)s AND status = 'suspended'
  AND claim_token = %(claim_token)s AND version = %(from_version)s
RETURNING id;

-- name: move_snapshot
UPDATE rhythm.snapshots
SET snapshot = %(snapshot)s::jsonb, updated_at = %(now)s
WHERE part = %(part)s AND execution_id = %(id)s
RETURNING execution_id;

-- name: fork_source
-- The execution a fork copies, locked (a concurrent activation commits before or after
-- the copy, never in its middle), with its saved state.
SELECT e.id, e.kind, e.name, e.version, e.status, e.inputs, e.queue, e.priority,
       e.options, s.snapshot, s.next_promise_id, s.waiting_on, s.refs, s.activations
FROM rhythm.executions e
LEFT JOIN rhythm.snapshots s ON s.part = e.part AND s.execution_id = e.id
WHERE e.part = %(part)s AND e.id = %(id)s
FOR UPDATE OF e;

-- name: fork_promises
-- Every promise of the source (settled ones are copied as they are, pending ones are
-- issued again for the fork).
SELECT promise_id, kind, target, state, value, due_at, params, created_ms, settled_ms
FROM rhythm.promises
WHERE part = %(part)s AND execution_id = %(id)s
ORDER BY promise_id;

-- name: insert_fork
-- The fork: a workflow execution born suspended with a saved state, claimable now (an
-- activation that finds nothing settled suspends again at no machine run). Returns
-- nothing when the id is taken.
INSERT INTO rhythm.executions
    (part, id, kind, name, version, status, inputs, queue, priority, options, run_at,
     created_at, started_at, updated_at)
SELECT %(part)s, %(id)s, 'workflow', %(name)s, %(version)s, 'suspended', %(inputs)s::json,
       %(queue)s, %(priority)s, %(options)s::jsonb, %(now)s, %(now)s, %(now)s, %(now)s
ON CONFLICT (id, part) DO NOTHING
RETURNING id, part::text || ':' || queue AS wake;

-- name: insert_fork_snapshot
INSERT INTO rhythm.snapshots
    (part, execution_id, snapshot, next_promise_id, waiting_on, refs, activations,
     updated_at)
SELECT %(part)s, %(id)s, %(snapshot)s::jsonb, %(next_promise_id)s, %(waiting_on)s,
       %(refs)s, %(activations)s, %(now)s;
