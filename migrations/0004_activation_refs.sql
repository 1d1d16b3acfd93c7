-- Faster activations (issue 6): the snapshot row keeps the promise ids its machine can
-- reach (the codec's {"p": id} references and the promise it waits on), so that one
-- statement loads an activation's snapshot, promises and buffered signals together.
-- NULL for snapshots written before this migration: those load the old way (the ids
-- are read from the snapshot first), and get refs at their next commit.

ALTER TABLE rhythm.snapshots ADD COLUMN refs integer[];
