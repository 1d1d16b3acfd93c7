-- Which task names each worker has, and its lease (issue 22, docs/nodejs.md "Routing"):
-- `rhythm status` and `rhythm list` say "no live worker has task X" when every worker
-- that registered X has stopped, not only when none ever did. Both are written once, by
-- the worker's registration (register_worker); the heartbeat writes what it wrote
-- before. A worker is live while its heartbeat is younger than its lease (it beats every
-- third of it, and a worker stopped gracefully deletes its row). NULL tasks: a worker
-- registered by code older than this migration, which may have any name.
--
-- rhythm.workers is not distributed on Citus (it stays on the coordinator): nothing
-- conditional here.
ALTER TABLE rhythm.workers ADD COLUMN tasks text[];
ALTER TABLE rhythm.workers ADD COLUMN lease_seconds float8;
