-- Queries of `rhythm migrate --partitions P [--citus]` (rhythm/store/partitions.py): how
-- the runtime tables are laid out. Design and costs: docs/scaling.md.

-- name: read_layout
-- How many partitions, and whether this is a Citus cluster (also what every worker and
-- client reads once as it connects: rhythm.runtime.partitions.Topology).
SELECT partitions, citus FROM rhythm.installation;

-- name: any_execution
-- P is in every row's key: it can change only while there is no row to move.
SELECT EXISTS (SELECT 1 FROM rhythm.executions LIMIT 1) AS found;

-- name: set_partitions
UPDATE rhythm.installation SET partitions = %(partitions)s;

-- name: citus_installed
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS installed;

-- name: one_connection_per_node
-- On Citus, for a transaction that writes reference tables and then runs statements over
-- many shards (a worker's registration): in the default parallel mode the executor may
-- open a second connection to a node, which cannot see the first one's reference-table
-- writes, and the next statement that needs both fails with "cannot perform query with
-- placements that were modified over multiple connections" (seen at random, as it
-- depends on how long the first shard's query took). One connection per node avoids it.
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';

-- name: distribute_tables
-- Executions are distributed by partition; the tables that hang off them are co-located
-- (shard for shard on the same node), so everything of a workflow tree is on one node.
-- Citus distributes a table only without foreign keys to tables not yet distributed: the
-- keys are dropped first and made again between the distributed tables. The catalogs
-- that routed statements read (versions, task routes, queue settings, schedules) become reference
-- tables (a copy on every node), and installation, schema_migrations and workers stay on
-- the coordinator. Rate-limit buckets live next to the executions of their partition.
ALTER TABLE rhythm.snapshots DROP CONSTRAINT IF EXISTS snapshots_execution_fkey;
ALTER TABLE rhythm.promises DROP CONSTRAINT IF EXISTS promises_execution_fkey;
ALTER TABLE rhythm.signals DROP CONSTRAINT IF EXISTS signals_execution_fkey;
ALTER TABLE rhythm.execution_waiters DROP CONSTRAINT IF EXISTS execution_waiters_execution_fkey;
SELECT create_distributed_table('rhythm.executions', 'part');
SELECT create_distributed_table('rhythm.execution_runs', 'part', colocate_with => 'rhythm.executions');
SELECT create_distributed_table('rhythm.snapshots', 'part', colocate_with => 'rhythm.executions');
SELECT create_distributed_table('rhythm.promises', 'part', colocate_with => 'rhythm.executions');
SELECT create_distributed_table('rhythm.signals', 'part', colocate_with => 'rhythm.executions');
SELECT create_distributed_table('rhythm.execution_waiters', 'part',
                                colocate_with => 'rhythm.executions');
SELECT create_distributed_table('rhythm.history', 'part', colocate_with => 'rhythm.executions');
ALTER TABLE rhythm.snapshots ADD CONSTRAINT snapshots_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
ALTER TABLE rhythm.promises ADD CONSTRAINT promises_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
ALTER TABLE rhythm.signals ADD CONSTRAINT signals_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
ALTER TABLE rhythm.execution_waiters ADD CONSTRAINT execution_waiters_execution_fkey
    FOREIGN KEY (execution_id, part) REFERENCES rhythm.executions (id, part) ON DELETE CASCADE;
SELECT create_reference_table('rhythm.workflow_versions');
SELECT create_distributed_table('rhythm.rate_limits', 'part',
                                colocate_with => 'rhythm.executions');
SELECT create_reference_table('rhythm.task_routes');
SELECT create_reference_table('rhythm.queues');
SELECT create_reference_table('rhythm.schedules');
UPDATE rhythm.installation SET citus = true;
