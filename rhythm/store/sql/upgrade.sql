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
