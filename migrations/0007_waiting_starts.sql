-- Starts before any worker (issue 16, item 4): a workflow started under a name that has
-- no registered version yet is kept pending with no version and no run_at (nothing can
-- claim it) until a version of that name is registered (`rhythm register`, or a worker
-- that has it); the registration then makes these rows claimable, and the first claim
-- pins the version that is current at that moment.
--
-- The registration finds them by name through this index. It is small (only such rows
-- are in it, and only until their first claim) and never touched by the claim path of
-- rows that have a version.
CREATE INDEX executions_awaiting_version ON rhythm.executions (name)
    WHERE kind = 'workflow' AND version IS NULL AND status = 'pending';
