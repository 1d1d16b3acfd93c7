"""One workflow activation on Postgres (guarantee 1): load, run the machine, commit once.

1. **Load** (three reads): the snapshot, the promises the snapshot can reach plus open
   combinators and their members, and the execution's buffered signals.
2. **Run** the generated machine through a :class:`WorkflowHost` until it suspends on a
   promise that is still pending, or ends. Waits requested during the run take buffered
   signals (FIFO) as the in-memory host does when an activation ends; if that settles
   what the machine waits on, it goes on at once, in the same activation.
3. **Commit** in one transaction whose first statement checks the claim token: the new
   snapshot, every promise it created or changed, the signals it consumed, the tasks and
   child workflows it requested, its status and queue state, and the parent's wake-up.
   A crash before the commit leaves the previous snapshot and no effect; the row's lease
   expires and the activation runs again from there.

Anything that stops an execution from running at all — an unknown or uncompilable
version, a snapshot that cannot be restored, a result that is not JSON, a LimitError, a
bug — fails that execution with a structured error (guarantee 4) instead of retrying.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Container, Generator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.engine.flow_errors import child_workflow_error, timeout_error
from rhythm.engine.promises import PromiseRecord, PromiseTable
from rhythm.errors import InputError
from rhythm.flowrt.protocol import (
    Completed,
    Failed,
    FlowLimit,
    FlowThrow,
    Limits,
    Machine,
    Step,
    Suspended,
)
from rhythm.observe import entries
from rhythm.observe.telemetry import NO_TELEMETRY, Telemetry, current_traceparent
from rhythm.runtime import failures
from rhythm.runtime.clock import Clock
from rhythm.runtime.database import Connect
from rhythm.runtime.groupcommit import UNSTORABLE, GroupCommit, commit_many
from rhythm.runtime.jobs import Claim, Outcome
from rhythm.runtime.notices import Notices
from rhythm.runtime.partitions import PLAIN, Topology, generated_id, keyed_id
from rhythm.runtime.payloads import encode
from rhythm.runtime.sql import Q
from rhythm.runtime.versions import VersionUnavailable, WorkflowVersions
from rhythm.runtime.wfhost import (
    CancelState,
    WorkflowHost,
    forgettable,
    member_ids,
    reachable,
    referenced_promises,
    settle_due,
)
from rhythm.store.connect import first_line

log = logging.getLogger("rhythm.activation")

MAX_ROUNDS = 10_000  # machine runs in one activation (each one consumed a signal)
_DB_STATE = {"fulfilled": "resolved", "rejected": "rejected", "pending": "pending"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)  # the same workflows' steps ask again and again
def _stamp(started: datetime | None) -> str:
    """``Context.startedAt``: ISO 8601 in UTC to the millisecond."""
    moment = (started or _EPOCH).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class LocalStarts:
    """The tasks a worker runs itself straight from an activation's commit: those on one
    of ``queues`` whose name is in ``tasks`` (among the first ``limit`` requested) are
    inserted already claimed for ``worker`` (token 1, lease until ``lease_until``) and
    handed to ``accept`` after the commit, so they start without a NOTIFY and a claim
    round trip. The others go to their queue as usual. When the workflow waits on just
    one task that this worker can run - started here, or queued because ``limit`` was
    reached - ``accept`` also gets the :class:`Resumable` state."""

    worker: str
    queues: list[str]
    tasks: Container[str]
    lease_until: datetime
    accept: Callable[[list[Claim], Resumable | None], None]
    limit: int = 1000

    def mark(self, effects: list[dict[str, Any]]) -> None:
        """Flag (``here``) the effects this worker may claim: its tasks, the first
        ``limit`` of them."""
        left = self.limit
        for row in effects:
            row["here"] = left > 0 and row["kind"] == "task" and row["name"] in self.tasks
            left -= row["here"]


@dataclass
class Resumable:
    """A workflow this worker just suspended on one task that it can run itself (see
    :class:`LocalStarts`): its state as committed, kept so that if this worker runs the
    task - claimed by the commit, or later from the queue - the task's outcome resumes it
    at once: recorded, settled and committed with the next activation in one transaction
    (:meth:`ActivationRunner.resume`), without waking, claiming and loading it. Valid
    only while nothing else happens to the workflow and the task's claim is current; the
    commit checks both in the database."""

    claim: Claim  # the claim its last activation committed under
    task_id: str  # the task it waits on
    snapshot: dict[str, Any]
    waiting_on: int
    records: list[PromiseRecord]  # what a load would return: reachable + open combinators
    next_id: int
    started_at: datetime | None


class StaleClaim(Exception):
    """The claim was lost before the commit: nothing was written."""


@dataclass
class Loaded:
    snapshot: dict[str, Any] | None
    waiting_on: int | None
    started_at: datetime | None
    cancel_delivered: bool
    table: PromiseTable
    seen: dict[int, tuple[str, bool]]  # promise id -> (state, abandoned) as loaded
    buffered: list[tuple[int, str, Any]]  # (signal id, channel, payload), oldest first
    resumed_by: TaskResult | None = None  # a resumed activation: the outcome it records


@dataclass(frozen=True)
class TaskResult:
    """The final outcome of the task a resumed activation records (see
    :meth:`ActivationRunner.resume`), with the promise it settles."""

    promise_id: int
    outcome: Outcome  # of the task's current claim (id, token)

    def params(self) -> dict[str, Any]:
        return {
            "task_id": self.outcome.id, "task_token": self.outcome.token,
            "task_status": self.outcome.status, "task_result": self.outcome.result,
            "task_error": None if self.outcome.error is None
            else json.dumps(self.outcome.error),
        }


NO_TASK = {"task_id": None, "task_token": None, "task_status": None, "task_result": None,
           "task_error": None}


@dataclass
class Plan:
    """What the commit writes. ``status`` suspended | completed | failed | cancelled;
    ``idle`` when the wake-up settled nothing the machine waits on."""

    status: str
    snapshot: dict[str, Any] | None = None
    waiting_on: int | None = None
    result: str | None = None
    error: Any = None
    idle: bool = False
    consumed: list[dict[str, int]] = field(default_factory=list)
    child_versions: dict[int, str] = field(default_factory=dict)
    _refs: list[int] | None = field(default=None, repr=False)
    # For the history entry: the machine's .flow lines, where an ending stopped.
    lines: dict[int, int] = field(default_factory=dict, repr=False)
    awaits: dict[int, str] = field(default_factory=dict, repr=False)  # (await identities)
    end_label: int | None = None
    end_line: int | None = None
    snapshot_bytes: int | None = None  # its JSON's size, as the history entry measured it
    snapshot_text: str | None = field(default=None, repr=False)  # (its JSON, if made)

    def refs(self) -> list[int]:
        """The promise ids the saved snapshot can reach (see :func:`snapshot_refs`),
        walked once: the commit stores them and a :class:`Resumable` keeps their records.
        Ask only once the snapshot is final (after the run)."""
        if self._refs is None:
            self._refs = snapshot_refs(self.snapshot, self.waiting_on)
        return self._refs


def workflow_error(claim: Claim, kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """Guarantee 4: what went wrong, and where (workflow, version, execution)."""
    return {
        "name": "WorkflowError", "message": message, "type": kind, "workflow": claim.name,
        "version": claim.version, "executionId": claim.id, **extra,
    }


class ActivationRunner:
    """Runs activations of claimed workflow rows. Each commits in one transaction: through
    the :class:`GroupCommit` (its connections) when there is one, else on its own."""

    def __init__(
        self, versions: WorkflowVersions, clock: Clock, limits: Limits | None = None,
        on_timer: Callable[[int, datetime], None] | None = None,
        group: GroupCommit | None = None,
    ) -> None:
        self.versions = versions
        self.topology = PLAIN  # the worker sets the database's once it has read it
        self.group = group  # shares commit statements between concurrent activations
        self.clock = clock
        self.limits = limits or Limits()
        self.on_timer = on_timer  # told the partition and due time of every timer committed
        self.worker: str | None = None  # the worker's id, in the history entries it writes
        self.history_cap = entries.DEFAULT_SNAPSHOT_CAP  # bytes of snapshot JSON kept
        # False only in a benchmark measuring what history costs (rhythm.bench.drain):
        # activations then record no entry. No option sets it: every activation is
        # recorded (docs/observability.md).
        self.record_history = True
        self.telemetry: Telemetry = NO_TELEMETRY  # the worker's (rhythm.observe)

    async def run(
        self, connect: Connect, claim: Claim, max_lease_losses: int = 5,
        on_commit: Callable[[], None] | None = None,
        local: Callable[[], LocalStarts | None] | None = None,
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """One activation; False when the claim went stale (nothing written).
        ``connect`` gives the connection to load on (a fresh claim, with nothing saved,
        asks for none). ``on_commit`` is called just before the commit is sent: from then
        on the row may leave 'running' under this claim at any moment (the worker's
        heartbeat must not take that for a lost lease). ``local`` says, at commit time,
        which requested tasks the worker runs itself (see :class:`LocalStarts`).
        ``release``, if given, is called once the activation is loaded: it gives the
        connection back (to its pool; ``connect`` takes one again for the rarer needs
        after that), so that a commit that goes through the group commit holds no
        connection while it waits."""
        now = self.clock.now()
        if claim.fresh:
            loaded = _nothing_saved(claim)
        else:
            try:
                loaded = await self._load(await connect(), claim)
            except StaleClaim:  # it moved on, or ended and retention deleted it
                log.info("workflow %s changed or went away as it loaded; claim of it went "
                         "stale", claim.id)
                return False
        host = self._host(claim, loaded, now)
        if release is not None:
            await release()
        if claim.lease_losses >= max_lease_losses:
            plan = self._failed(Plan("failed"), workflow_error(
                claim, failures.WORKER_LOST,
                f"the workers running it stopped {claim.lease_losses} times (crash or kill)"))
        else:
            plan = await self._drive(connect, claim, loaded, host)
        return await self._conclude(connect, claim, loaded, host, plan, now, on_commit, local)

    async def resume(
        self, connect: Connect, state: Resumable, outcome: Outcome,
        worker: str, lease_until: datetime, on_commit: Callable[[], None] | None = None,
        local: Callable[[], LocalStarts | None] | None = None,
    ) -> bool:
        """The next activation of a :class:`Resumable` workflow, driven by its task's
        final ``outcome`` (completed or failed) without a load: the outcome, the promise
        it settles and the activation commit in one transaction, first claiming the
        workflow under the next token (``resume_with_result``). False when that statement's
        guard failed (something else happened to the workflow, or the task's claim is
        stale): nothing was written, and the outcome must be recorded the usual way.
        ``connect`` is called only if the activation needs a connection of its own (a
        child workflow's version, a version compiled from stored source, the pipelined
        commit, or no group commit): the common step needs none."""
        now = self.clock.now()
        table = PromiseTable(state.records, next_id=state.next_id)
        seen = states_before(state.records)  # (settle below changes the records)
        ok = outcome.status == "completed"
        value = json.loads(outcome.result or "null") if ok else outcome.error
        table.settle(state.waiting_on, ok, value, epoch_ms(now))
        loaded = Loaded(state.snapshot, state.waiting_on, state.started_at, False, table,
                        seen, [], TaskResult(state.waiting_on, outcome))
        host = self._host(state.claim, loaded, now)
        plan = await self._drive(connect, state.claim, loaded, host)
        return await self._conclude(connect, state.claim, loaded, host, plan, now, on_commit,
                                    local, {"worker": worker, "lease_until": lease_until})

    def _host(self, claim: Claim, loaded: Loaded, now: datetime) -> WorkflowHost:
        return WorkflowHost(
            loaded.table, claim.inputs if isinstance(claim.inputs, dict) else {},
            self._context(claim, loaded), epoch_ms(now),
            CancelState(claim.cancel_requested, loaded.cancel_delivered), self.limits,
        )

    async def _conclude(
        self, connect: Connect, claim: Claim, loaded: Loaded,
        host: WorkflowHost, plan: Plan, now: datetime, on_commit: Callable[[], None] | None,
        local: Callable[[], LocalStarts | None] | None, lease: dict[str, Any] | None = None,
    ) -> bool:
        """Commit a driven activation; then tell the worker what it committed."""
        if on_commit is not None:
            on_commit()
        starts = local() if local is not None else None
        try:
            due, started, woken = await self._commit(
                connect, claim, loaded, host, plan, now, starts, lease)
        except StaleClaim:
            if loaded.resumed_by is None:
                log.info("claim of workflow %s went stale; activation discarded", claim.id)
            return False
        except UNSTORABLE as err:
            if loaded.resumed_by is not None:  # its task's outcome is recorded as usual,
                return False  # and the activation it wakes fails here, on its own claim
            reason = _unstorable_reason(err)
            log.warning("workflow %s: its state cannot be stored (%s); failing it",
                        claim.id, reason)
            return await self.fail(connect, claim, workflow_error(
                claim, "Unstorable", f"the workflow's state cannot be stored: {reason}"),
                loaded.cancel_delivered)
        if self.telemetry.enabled:
            self.telemetry.workflow_done(claim, plan.status, plan.error, plan.snapshot_bytes)
        for line in host.logs:
            log.info("[%s] %s", claim.id, line)
        if due and self.on_timer is not None:
            self.on_timer(claim.part, min(due))
        if starts is not None:
            state = None if woken else resumable(claim, loaded, host, plan, starts)
            if started or state is not None:
                starts.accept(started, state)
        return True

    async def fail(
        self, connect: Connect, claim: Claim, error: dict[str, Any],
        cancel_delivered: bool = False,
    ) -> bool:
        """Fail the claimed execution with ``error``, writing nothing else of its
        activation: for what stops an activation from running or committing at all (an
        internal error, data that cannot be stored), reported at once as itself instead
        of retried until its lease has been lost often enough to read as ``WorkerLost``.
        False when the claim went stale (nothing written)."""
        now = self.clock.now()
        bare = _nothing_saved(claim)
        bare.cancel_delivered = cancel_delivered  # (so the failure delivers no cancel)
        host = self._host(claim, bare, now)
        plan = self._failed(Plan("failed"), error)
        try:
            await self._commit(connect, claim, bare, host, plan, now)
        except StaleClaim:
            return False
        return True

    @staticmethod
    def _context(claim: Claim, loaded: Loaded) -> dict[str, Any]:
        return {"executionId": claim.id, "workflowName": claim.name,
                "version": claim.version or "", "startedAt": _stamp(loaded.started_at)}

    # ------------------------------------------------------------------ load

    async def _load(self, conn: psycopg.AsyncConnection[Any], claim: Claim) -> Loaded:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(Q["load_activation_all"], {"id": claim.id, "part": claim.part})
            head = await cur.fetchone()
            if head is None:
                raise StaleClaim(claim.id)
            snapshot = head["snapshot"]
            records = {r["promise_id"]: record_from_row(r) for r in head["promises"]}
            if not head["has_refs"]:  # saved before snapshots kept their refs (0004)
                wanted = referenced_promises(snapshot) - records.keys()
                records.update(await self._promises(cur, claim, wanted))
            missing = member_ids(records.values()) - records.keys()
            while missing:
                more = await self._promises(cur, claim, missing)
                if more.keys() != missing:
                    # Gone since the first read: another activation, under a newer claim,
                    # committed meanwhile and deleted what the snapshot read then could
                    # reach (constant storage). Ours is stale; its commit would say so.
                    raise StaleClaim(claim.id)
                records.update(more)
                missing = member_ids(more.values()) - records.keys()
        buffered = [(int(i), str(channel), payload) for i, channel, payload in head["buffered"]]
        next_id = head["next_promise_id"] or 1
        table = PromiseTable(list(records.values()), next_id=next_id)
        return Loaded(snapshot, head["waiting_on"], head["started_at"], head["cancel_delivered"],
                      table, states_before(records.values()), buffered)

    @staticmethod
    async def _promises(
        cur: psycopg.AsyncCursor[Any], claim: Claim, ids: set[int]
    ) -> dict[int, PromiseRecord]:
        await cur.execute(Q["load_promises"],
                          {"id": claim.id, "part": claim.part, "ids": sorted(ids)})
        return {row["promise_id"]: record_from_row(row) for row in await cur.fetchall()}

    # ------------------------------------------------------------------ run

    async def _drive(
        self, connect: Connect, claim: Claim, loaded: Loaded, host: WorkflowHost
    ) -> Plan:
        plan = Plan("suspended")
        settle_due(loaded.table, host.now)
        loaded.table.propagate()
        try:
            cls = await self.versions.load(connect, claim.name, claim.version)
        except VersionUnavailable as err:
            return self._failed(plan, workflow_error(claim, "UnknownWorkflow", str(err)))
        plan.lines, plan.awaits = cls.INFO.lines, getattr(cls, "AWAITS", {})
        if loaded.snapshot is None:
            machine = cls.start(host)
        else:
            waiting = loaded.waiting_on
            if not host.cancel.pending and not _settled(loaded.table, waiting):
                plan.idle = True
                plan.snapshot, plan.waiting_on = loaded.snapshot, waiting
                return plan
            try:
                machine = cls.restore(host, loaded.snapshot)
            except ValueError as err:
                return self._failed(plan, workflow_error(
                    claim, "SnapshotUnreadable", f"cannot restore the saved state: {err}"))
        flushed = 0
        for _ in range(MAX_ROUNDS):
            step = _run(machine, claim)
            if not isinstance(step, Suspended):
                plan.end_label = getattr(machine, "label", None)
                plan.end_line = step.line if isinstance(step, Failed | Completed) else None
                return self._ended(plan, claim, step, host)
            try:  # fresh, JSON-ready data (the codec's promise): no copy needed
                snapshot, text = machine.snapshot_and_text()
            except FlowLimit as err:
                return self._failed(plan, err.value)
            flushed = await self._flush(connect, host, loaded, plan, flushed)
            loaded.table.propagate()
            if not host.cancel.pending and not _settled(loaded.table, step.waiting_on.id):
                plan.snapshot, plan.waiting_on = snapshot, step.waiting_on.id
                plan.snapshot_text = text
                return plan
            machine = cls.restore(host, snapshot)
        return self._failed(plan, {"name": "LimitError", "message": (
            f"more than {MAX_ROUNDS} resumptions in one activation")})

    def _ended(self, plan: Plan, claim: Claim, step: Step, host: WorkflowHost) -> Plan:
        if isinstance(step, Completed):
            try:
                plan.result = encode(step.result, f"result of workflow {claim.name!r}")
            except InputError as err:
                return self._failed(plan, workflow_error(claim, "ResultNotJSON", str(err)))
            plan.status = "completed"
            if host.cancel.delivered:  # it caught the cancellation: still cancelled (spec)
                plan.status, plan.error = "cancelled", failures.cancelled_error()
            return plan
        assert isinstance(step, Failed)
        plan = self._failed(plan, step.error)
        if host.cancel.delivered:
            plan.status = "cancelled"
        return plan

    @staticmethod
    def _failed(plan: Plan, error: Any) -> Plan:
        plan.status, plan.error = "failed", error
        plan.snapshot = plan.waiting_on = None
        return plan

    async def _flush(
        self, connect: Connect, host: WorkflowHost, loaded: Loaded, plan: Plan, flushed: int
    ) -> int:
        """Effects requested since the last flush meet the world, as at the end of an
        in-memory activation: waits take buffered signals, children resolve versions."""
        table = host.table
        fresh = [table.get(pid) for pid in host.requested[flushed:]]
        children = [r for r in fresh if r.kind == "child"]
        if children:
            names = sorted({r.params["name"] for r in children})
            cur = await (await connect()).execute(Q["current_versions"], {"names": names})
            current = {row[0]: row[1] for row in await cur.fetchall()}
            for record in children:
                name = record.params["name"]
                if name in current:
                    plan.child_versions[record.id] = current[name]
                else:
                    message = (f"child workflow '{name}' cannot start: no workflow named "
                               f"{name!r} is registered (start a worker that has it)")
                    table.settle(record.id, False,
                                 child_workflow_error(name, None, None, message), host.now)
                    record.params["cannot_start"] = True
        for record in fresh:
            if record.kind == "signal":
                self._register_wait(host, loaded, plan, record)
            elif record.kind == "timer":
                pass  # written with its due time at commit
        return len(host.requested)

    @staticmethod
    def _register_wait(
        host: WorkflowHost, loaded: Loaded, plan: Plan, record: PromiseRecord
    ) -> None:
        channel, timeout_ms = record.params["channel"], record.params["timeout_ms"]
        if timeout_ms is not None:
            record.params["due"] = host.now + int(timeout_ms)
            waited = (f"{int(timeout_ms) / 1000:g}s" if int(timeout_ms) % 1000
                      else f"{int(timeout_ms) // 1000}s")
            record.params["timeout_error"] = timeout_error(
                f"no signal '{channel}' arrived within {waited}")
        if record.abandoned:
            return
        for index, (signal_id, signal_channel, payload) in enumerate(loaded.buffered):
            if signal_channel == channel:
                del loaded.buffered[index]
                host.table.settle(record.id, True, payload, host.now)
                plan.consumed.append({"signal_id": signal_id, "promise_id": record.id})
                return

    # ------------------------------------------------------------------ commit

    async def _commit(
        self, connect: Connect, claim: Claim, loaded: Loaded,
        host: WorkflowHost, plan: Plan, now: datetime, starts: LocalStarts | None = None,
        lease: dict[str, Any] | None = None,
    ) -> tuple[list[datetime], list[Claim], bool]:
        """Commit the activation in one transaction, its statements pipelined (one round
        trip in the common case). The claim-token check comes first on the server; its
        answer is read before COMMIT, and a stale claim rolls everything back. A resumed
        activation (``loaded.resumed_by``) records its task's outcome in the same
        transaction; on the rarer path it first claims the workflow (``resume_with_result``,
        ``lease``: worker and lease_until) and commits under the next token. Returns the
        due times of the timers it wrote, the tasks it claimed for this worker (the common
        commit only; the rarer ones leave every task to the queue), and whether the
        workflow was woken again meanwhile."""
        base = {"id": claim.id, "now": now, "part": claim.part}
        assign_execution_ids(host, claim.part, self.topology.partitions)
        late = _late_signal_waits(host, plan)
        resumed = loaded.resumed_by
        also = {resumed.promise_id} if resumed else set()
        forget = _forgotten(host, plan)
        rows = promise_rows(host.table, loaded.seen, set(host.requested), also, forget)
        ended = plan.status != "suspended"
        cancelling = host.cancel.delivered and not loaded.cancel_delivered
        effects = effect_rows(host, plan)
        keyed = [e for e in effects if "key" in e]  # (idempotency keys: rare)
        entry = self._entry(loaded, host, plan)
        if not (late or cancelling or keyed) \
                and (not ended or _plain_end(claim, plan, rows, effects)):
            task = resumed.params() if resumed else NO_TASK
            row = await self._send_one(connect, claim, host, plan, rows, effects, base,
                                       starts, task, forget, entry)
            if row is None:
                raise StaleClaim(claim.id)
            started = [Claim.from_row(started) for started in row[4] or []]
            return _due_times(rows), started, row[1] is not None
        conn = await connect()
        noting: list[psycopg.AsyncCursor[Any]] = []  # statements that name notifications
        notices = Notices()  # ... and those already read
        async with conn.pipeline(), conn.transaction(), \
                conn.cursor(row_factory=dict_row) as lock, \
                conn.cursor(row_factory=dict_row) as cur, \
                conn.cursor(row_factory=dict_row) as fin:
            if resumed is not None:  # read at once: the next token is only ours if it ran
                await cur.execute(Q["resume_with_result"], {
                    **base, **resumed.params(), **(lease or {}), "token": claim.token})
                taken = await cur.fetchone()
                if taken is None:
                    raise StaleClaim(claim.id)
                claim = replace(claim, token=taken["claim_token"])
            await lock.execute(Q["lock_claimed"], {**base, "token": claim.token})
            again = False
            # (they need the row lock first; late ones also the buffered signals now)
            if (late or keyed) and await lock.fetchone() is None:
                raise StaleClaim(claim.id)
            if late:
                again = await self._late_signals(cur, claim, host, plan, late)
            if keyed:
                effects = [e for e in effects if "key" not in e]
                again = await self._request_keyed(conn, claim, host, keyed, now,
                                                  notices) or again
            if late or keyed:
                rows = promise_rows(host.table, loaded.seen, set(host.requested), also,
                                    forget)
            if rows:
                await cur.execute(Q["write_promises"], {**base, "rows": json.dumps(rows)})
            if plan.consumed:
                await cur.execute(Q["consume_signals"],
                                  {**base, "rows": json.dumps(plan.consumed)})
            if forget:  # (after consume_signals: it deletes what forgotten waits took)
                await cur.execute(Q["forget_promises"], {**base, "forget": sorted(forget)})
            if effects:
                await _noting(conn, noting, "insert_effects", {
                    **base, "rows": json.dumps(effects), "default_queue": claim.queue})
            if entry is not None:  # (before the snapshot's count moves: its step)
                detail, packed = entry
                await cur.execute(Q["record_activation"], {
                    **base, "detail": json.dumps(detail), "snapshot": packed.data,
                    "snapshot_bytes": packed.size, "worker": self._signer(starts)})
            if ended:
                await cur.execute(Q["delete_snapshot"], base)
                await cur.execute(Q["drop_waits"], {**base, "below": 2**31 - 1})
            elif not plan.idle:
                await cur.execute(Q["save_snapshot"], {
                    **base, "snapshot": json.dumps(plan.snapshot),
                    "next_promise_id": host.table.next_id, "waiting_on": plan.waiting_on,
                    "refs": plan.refs()})
            if host.cancel.delivered and not loaded.cancel_delivered:
                await self._cancel_effects(conn, noting, notices, claim, host.cancel.boundary,
                                           now)
            await fin.execute(Q["finish_activation"], {
                **base, "token": claim.token, "status": plan.status, "result": plan.result,
                "error": None if plan.error is None else _error_text(plan.error),
                "again": again, "wake_seq": claim.wake_seq,
                "cancel_delivered": host.cancel.delivered,
            })
            if ended and claim.parent_id is not None:
                await _noting(conn, noting, "settle_parents", {**base, "ids": [claim.id]})
            if not (late or keyed) and await lock.fetchone() is None:
                raise StaleClaim(claim.id)
            finished = await fin.fetchone()
            if finished is None:
                raise StaleClaim(claim.id)
            notices.from_rows([finished])
            if resumed is not None:
                notices.done([resumed.params()["task_id"]])
            for noted in noting:
                notices.from_rows(await noted.fetchall())
            await notices.send_async(conn)
        return _due_times(rows), [], True

    async def _send_one(
        self, connect: Connect, claim: Claim, host: WorkflowHost,
        plan: Plan, rows: list[dict[str, Any]], effects: list[dict[str, Any]],
        base: dict[str, Any], starts: LocalStarts | None, task: dict[str, Any],
        forget: set[int], entry: tuple[dict[str, Any], entries.Packed] | None = None,
    ) -> Any:
        """The common commit as one statement (``commit_activations``): the workflow
        suspends (no new signal wait, no cancellation delivered), or ends with nothing
        more to do (:func:`_plain_end`). Claim check, writes and new state together,
        nothing written when the claim went stale (no row back). Its row says whether the
        workflow was woken meanwhile and lists the tasks it claimed for this worker.
        ``task``: the outcome a resumed activation records (all None otherwise);
        ``forget``: the promises to delete (:func:`_forgotten`). With a
        :class:`GroupCommit`, it may share the statement with other activations'."""
        ended = plan.status != "suspended"
        if starts is not None and not ended:
            starts.mark(effects)
        save = not (plan.idle or ended)
        item = {
            "id": claim.id, "part": claim.part, "token": claim.token,
            "now": base["now"].isoformat(),
            "status": plan.status, "result": plan.result,
            "error": None if plan.error is None else _error_text(plan.error),
            "rows": rows, "effects": effects,
            # (a signal taken by a wait deleted in the same statement is deleted: one
            # statement cannot both mark a row and delete it)
            "consumed": [c for c in plan.consumed if c["promise_id"] not in forget],
            "taken_gone": [c["signal_id"] for c in plan.consumed
                           if c["promise_id"] in forget] or None,
            "forget": sorted(forget) or None,
            "default_queue": claim.queue, "save": save,
            "snapshot": plan.snapshot if save else None,
            "next_promise_id": host.table.next_id, "waiting_on": plan.waiting_on,
            "refs": plan.refs() if save else None,
            "wake_seq": claim.wake_seq, "cancel_delivered": host.cancel.delivered,
            # (claims the local starts - only with local_queues - and signs the entry)
            "worker": self._signer(starts),
            "lease_until": starts.lease_until.isoformat() if starts else None,
            "local_queues": starts.queues if starts else [], **task,
        }
        if entry is not None:
            item.update(entries.commit_fields(*entry))
            if save and "history_snapshot_text" in item:
                # (the same JSON text: sent once, commit_activations saves it from there;
                # encoding it twice was ~15% of the element's bytes and JSON work)
                item["snapshot"] = None
        if self.group is not None:
            return await self.group.run(item)
        return (await commit_many(await connect(), [item], self.topology))[0]

    def _entry(
        self, loaded: Loaded, host: WorkflowHost, plan: Plan,
    ) -> tuple[dict[str, Any], entries.Packed] | None:
        """The activation's history entry: its detail and its snapshot as stored (None: a
        wake-up that settled nothing ran no machine and records nothing)."""
        if plan.idle or not self.record_history:
            return None
        packed = entries.pack_snapshot(plan.snapshot, self.history_cap, plan.snapshot_text)
        plan.snapshot_bytes = packed.size  # (for metrics: measured once, here)
        resumed = loaded.snapshot.get("label") if isinstance(loaded.snapshot, dict) else None
        stopped = plan.snapshot.get("label") if isinstance(plan.snapshot, dict) \
            else plan.end_label
        detail = entries.activation_detail(
            resumed_label=resumed, stopped_label=stopped, status=plan.status,
            lines=plan.lines, table=host.table, read=host.read, requested=host.requested,
            packed=packed, error=plan.error, stopped_line=plan.end_line,
            waiting_on=plan.waiting_on, awaits=plan.awaits)
        return detail, packed

    def _signer(self, starts: LocalStarts | None) -> str | None:
        """The worker id a commit names (its local starts' claimer, its entry's writer)."""
        return starts.worker if starts is not None else self.worker

    async def _request_keyed(
        self, conn: psycopg.AsyncConnection[Any], claim: Claim, host: WorkflowHost,
        keyed: list[dict[str, Any]], now: datetime, notices: Notices,
    ) -> bool:
        """Tasks requested with an idempotency key, in the commit's transaction (after the
        claim check): each creates its key's execution or joins the one that holds it,
        as a waiter (rhythm.runtime.operations.enqueue_keyed). The promise then names the
        execution it awaits; one that has ended already settles now, in memory. True
        when one did (the workflow runs again at once)."""
        from rhythm.runtime import operations as ops  # (operations imports this module)

        settled = False
        for row in sorted(keyed, key=lambda r: (r["name"], r["key"])):  # (lock order)
            req = ops.Enqueue(
                kind="task", name=row["name"], inputs=json.dumps(row["inputs"]),
                queue=row["queue"], priority=row["priority"], max_retries=row["max_retries"],
                options=json.dumps(row["options"]), idempotency_key=row["key"])
            waiter = (claim.id, claim.part, row["promise_id"])
            found = await _drive_in_pipeline(conn, ops.enqueue_keyed(req, now, waiter),
                                             self.topology, notices)
            record = host.table.get(row["promise_id"])
            record.params["execution_id"] = found["id"]
            if found["settled"]:
                ok = found["status"] == "completed"
                host.table.settle(record.id, ok, found["result"] if ok else found["error"],
                                  host.now)
                settled = True
        if settled:
            host.table.propagate()
        return settled

    @staticmethod
    async def _late_signals(
        cur: psycopg.AsyncCursor[Any], claim: Claim, host: WorkflowHost, plan: Plan,
        waits: list[PromiseRecord],
    ) -> bool:
        """Signals sent while this activation ran found none of its new waits (they were
        not committed); now that the row lock orders us after them, the new waits take
        them. True when that settles what the machine waits on (run again at once)."""
        taken = {c["signal_id"] for c in plan.consumed}
        await cur.execute(Q["load_buffered_signals"], {"id": claim.id, "part": claim.part})
        late = [r for r in await cur.fetchall() if r["id"] not in taken]
        for wait in waits:
            match = next((r for r in late if r["channel"] == wait.params["channel"]), None)
            if match is not None:
                late.remove(match)
                host.table.settle(wait.id, True, match["payload"], host.now)
                plan.consumed.append({"signal_id": match["id"], "promise_id": wait.id})
        host.table.propagate()
        return _settled(host.table, plan.waiting_on)

    @staticmethod
    async def _cancel_effects(
        conn: psycopg.AsyncConnection[Any], noting: list[psycopg.AsyncCursor[Any]],
        notices: Notices, claim: Claim, boundary: int | None, now: datetime,
    ) -> None:
        """CancelledError was just thrown in: cancel the tasks and children started before
        it and drop the timers and waits made before it. Promises from ``boundary`` on
        were made by its catch/finally afterwards (compensation): they run normally."""
        below = boundary if boundary is not None else 2**31 - 1
        base = {"id": claim.id, "part": claim.part, "now": now, "below": below}
        await conn.execute(Q["drop_waits"], base)
        cancelled = await _noting(conn, [], "cancel_children", {
            **base, "error": json.dumps(failures.cancelled_error())})
        rows = await cancelled.fetchall()
        notices.from_rows(rows)
        ended = [r["id"] for r in rows if r["status"] == "cancelled"]
        if ended:
            await _noting(conn, noting, "settle_parents", {**base, "ids": ended})


async def _noting(
    conn: psycopg.AsyncConnection[Any], noting: list[psycopg.AsyncCursor[Any]], query: str,
    params: dict[str, Any],
) -> psycopg.AsyncCursor[Any]:
    """Send ``query`` on a cursor of its own (in a pipeline its rows are read later, with
    the others'), kept in ``noting``: its rows name notifications the commit sends."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(Q[query], params)
    noting.append(cur)
    return cur


_NO_ROWS = frozenset({"add_waiter", "archive_keyed_run"})  # (statements of enqueue_keyed)


async def _drive_in_pipeline(
    conn: psycopg.AsyncConnection[Any],
    op: Generator[tuple[str, dict[str, Any]], list[dict[str, Any]], dict[str, Any]],
    topology: Topology, notices: Notices,
) -> dict[str, Any]:
    """Run an operation (rhythm.runtime.operations) inside the commit's pipelined
    transaction: each statement's rows are read at once (a pipeline sync), since the
    next depends on them; those that return none are not read. The notifications they
    name join the commit's."""
    from rhythm.runtime.operations import bind

    async with conn.cursor(row_factory=dict_row) as cur:
        query, params = next(op)
        try:
            while True:
                await cur.execute(Q[query], bind(params, topology))
                rows = [] if query in _NO_ROWS else await cur.fetchall()
                notices.from_rows(rows)
                query, params = op.send(rows)
        except StopIteration as stop:
            return stop.value


def resumable(
    claim: Claim, loaded: Loaded, host: WorkflowHost, plan: Plan, starts: LocalStarts
) -> Resumable | None:
    """The committed state of a workflow that now waits on one task it has just requested
    (plain ``await Task.run(...)``) and this worker can run, or None."""
    if plan.status != "suspended" or plan.idle or plan.waiting_on is None \
            or claim.cancel_requested or plan.waiting_on not in host.requested:
        return None
    record = host.table.records.get(plan.waiting_on)
    if record is None or record.kind != "task" or record.settled or plan.snapshot is None \
            or record.params.get("cannot_start"):
        return None
    if record.params["name"] not in starts.tasks:  # (its queue: the database decides)
        return None
    return Resumable(claim, record.params["execution_id"], plan.snapshot, plan.waiting_on,
                     reachable(host.table, plan.refs()), host.table.next_id,
                     loaded.started_at)


def _forgotten(host: WorkflowHost, plan: Plan) -> set[int]:
    """The promises this activation's commit deletes: when it suspends with a new
    snapshot, what that snapshot can no longer reach (:func:`forgettable`). An ending
    keeps its rows until retention deletes the execution (they show how it ran)."""
    if plan.status != "suspended" or plan.idle:
        return set()
    return forgettable(host.table, plan.refs())


def _plain_end(
    claim: Claim, plan: Plan, rows: list[dict[str, Any]], effects: list[dict[str, Any]]
) -> bool:
    """An ending that the one-statement commit can write: no parent to wake, no task or
    child requested on the way out, no signal taken, and no timer or signal wait among
    the promise rows (the statement abandons the open ones it finds, and must not also
    write them)."""
    return (claim.parent_id is None and not effects and not plan.consumed
            and all(r["kind"] not in ("timer", "signal") for r in rows))


def _due_times(rows: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(r["due_at"]) for r in rows if r["due_at"]]


def _late_signal_waits(host: WorkflowHost, plan: Plan) -> list[PromiseRecord]:
    """New, still pending signal waits of a suspending activation: they may take signals
    sent while it ran (see ``_late_signals``)."""
    if plan.status != "suspended" or plan.idle:
        return []
    return [r for r in host.new_records()
            if r.kind == "signal" and not r.settled and not r.abandoned]


def snapshot_refs(snapshot: Any, waiting_on: int | None) -> list[int]:
    """The promise ids a saved machine can reach: what its next activation loads."""
    refs = referenced_promises(snapshot)
    if waiting_on is not None:
        refs.add(waiting_on)
    return sorted(refs)


def _run(machine: Machine, claim: Claim) -> Step:
    try:
        return machine.run()
    except FlowLimit as err:
        return Failed(err.value)
    except FlowThrow as err:
        return Failed(err.value)
    except Exception as err:  # a bug in generated code or the runtime, never the user's
        log.exception("internal error in workflow %s", claim.id)
        return Failed(workflow_error(
            claim, "InternalError", f"{type(err).__name__}: {err}",
            details={"traceback": traceback.format_exc()[-8000:]}))


def _unstorable_reason(err: BaseException) -> str:
    """``Name: message (detail)`` of an error of data Postgres refused to store."""
    reason = f"{type(err).__name__}: {first_line(err)}"
    diag = getattr(err, "diag", None)
    detail = diag.message_detail if diag is not None else None
    return f"{reason} ({detail.strip()})" if detail else reason


def _settled(table: PromiseTable, promise_id: int | None) -> bool:
    if promise_id is None or promise_id not in table.records:
        return False
    return table.get(promise_id).settled


def _error_text(error: Any) -> str:
    try:
        return encode(error, "workflow error")
    except InputError:
        return json.dumps({"name": "Error", "message": repr(error)[:2000]})


def record_from_row(row: dict[str, Any]) -> PromiseRecord:
    """A promise row as the engine's record (child failures wrapped as the language says)."""
    state = row["state"]
    params = row["params"] or {}
    value = row["value"]
    if row["kind"] == "child" and state == "rejected" and not params.get("cannot_start"):
        value = child_workflow_error(params.get("name", "?"), row["target"], value)
    return PromiseRecord(
        id=row["promise_id"], kind=row["kind"], params=params,
        created_at=row["created_ms"],
        state="fulfilled" if state == "resolved" else "pending" if state == "abandoned" else state,
        value=value, settled_at=row["settled_ms"], abandoned=state == "abandoned",
    )


def _nothing_saved(claim: Claim) -> Loaded:
    """What a load would find for a claim that the claim statement found ``fresh``."""
    return Loaded(None, None, claim.started_at, False, PromiseTable([], next_id=1), {}, [])


def states_before(records: Iterable[PromiseRecord]) -> dict[int, tuple[str, bool]]:
    """Each record's (state, abandoned) as loaded, before the run changes it: what
    :func:`promise_rows` compares with."""
    return {r.id: (r.state, r.abandoned) for r in records}


def promise_rows(
    table: PromiseTable, seen: dict[int, tuple[str, bool]], new: set[int],
    also: Container[int] = (), forget: Container[int] = (),
) -> list[dict[str, Any]]:
    """Rows to write: every new promise, and loaded ones whose state this run changed,
    but none of ``forget`` (deleted by the same commit). Settled task/child promises are
    settled by the database, so never rewritten - except those in ``also`` (the task
    promise a resumed activation settles itself)."""
    rows = []
    for record in table:
        if record.id in forget:
            continue
        if record.id not in new and record.id not in also and (
                seen.get(record.id) == (record.state, record.abandoned)
                or (record.kind in ("task", "child") and record.settled)):
            continue  # unchanged, or settled by the database (never by an activation)
        state = "abandoned" if record.abandoned and not record.settled else _DB_STATE[record.state]
        value = record.value  # a child that could not start carries its wrapped error
        due = record.params.get("due") if record.kind in ("timer", "signal") else None
        rows.append({
            "promise_id": record.id, "kind": record.kind, "target": _target(record),
            "state": state, "value": value,
            "due_at": from_ms(int(due)).isoformat() if due is not None and not record.settled
            else None,
            "params": record.params, "created_ms": record.created_at,
            "settled_ms": record.settled_at,
        })
    return rows


def _target(record: PromiseRecord) -> str | None:
    if record.kind == "signal":
        return str(record.params["channel"])
    return record.params.get("execution_id")


def effect_rows(host: WorkflowHost, plan: Plan) -> list[dict[str, Any]]:
    """Executions to create: requested tasks, and children that can start; traced, they
    carry the activation's span as their parent (rhythm.observe.tracing)."""
    rows = []
    traceparent = current_traceparent()
    for pid in host.requested:
        record = host.table.get(pid)
        if record.kind not in ("task", "child") or record.params.get("cannot_start"):
            continue
        options = record.params.get("options") or {}
        rows.append({
            "id": record.params["execution_id"],
            "kind": "task" if record.kind == "task" else "workflow",
            "name": record.params["name"], "version": plan.child_versions.get(pid),
            "inputs": record.params["inputs"], "queue": _text(options.get("queue")),
            "priority": _int(options.get("priority")) or 0,
            "max_retries": _int(options.get("retries")),
            "options": task_options(options), "promise_id": pid, "here": False,
        })
        if traceparent is not None:
            rows[-1]["options"]["traceparent"] = traceparent
        key = _idempotency_key(record.kind, options)
        if key is not None:  # (only then: the common commit's JSON stays as it was)
            rows[-1]["key"] = key
    return rows


def _idempotency_key(kind: str, options: dict[str, Any]) -> str | None:
    key = options.get("idempotencyKey")
    return key if kind == "task" and isinstance(key, str) and key else None


def assign_execution_ids(host: WorkflowHost, part: int, partitions: int) -> None:
    """Give each requested task/child its execution id (kept in the promise's params), in
    the workflow's own partition ``part``."""
    for pid in host.requested:
        record = host.table.get(pid)
        if record.kind in ("task", "child") and "execution_id" not in record.params:
            prefix = "t" if record.kind == "task" else "w"
            key = _idempotency_key(record.kind, record.params.get("options") or {})
            record.params["execution_id"] = (
                generated_id(prefix, part, partitions) if key is None
                else keyed_id(record.params["name"], key))  # (in its key's partition)


def task_options(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    timeout = options.get("timeout")
    if timeout is not None:
        from rhythm.flowrt.durations import duration_ms

        with contextlib.suppress(FlowThrow):  # the machine validated it already
            out["timeout"] = duration_ms(timeout, "timeout") / 1000
    key = options.get("idempotencyKey")
    if isinstance(key, str):
        out["idempotencyKey"] = key
    return out


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 and value == int(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
