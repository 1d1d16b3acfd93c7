"""The chaos test on Citus: ``test_chaos.py``'s run (worker processes SIGKILLed and
frozen at random while workflows loop over tasks, timers, signals, children and fan-outs;
exact results, transactional effects exactly once) on the coordinator, with one node of
the cluster restarted mid-run: the coordinator (what clients talk to) or a Citus worker
(where shards live: transactions writing to it fail until it is back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from citusfixtures import Cluster
from test_chaos import survive_chaos

NODES = {"coordinator": 0, "citus-worker": 1}
# 3 s, not 1 s: under the CPU contention of `pytest -n 2` a heartbeat on Citus can take
# long enough that live workers lose 1 s leases again and again (test_citus_crashes.py).
LEASE = 3.0
# Seconds for every workflow to end after the chaos: three servers, the workers and, under
# `pytest -n 2`, a second cluster share 2 cores; 60 s (the plain tier's) ran out twice
# while the work was still moving.
SETTLE = 180.0


@pytest.mark.slow
@pytest.mark.parametrize("node", NODES.values(), ids=NODES.keys())
def test_workflows_survive_random_worker_kills_and_a_node_restart(
    citus_cluster: Cluster, db_url: str, tmp_path: Path, node: int
) -> None:
    survive_chaos(db_url, lambda: citus_cluster.restart_node(node), tmp_path, LEASE, SETTLE)
