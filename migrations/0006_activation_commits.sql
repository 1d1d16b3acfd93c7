-- Group commit (issue 6): activations that commit at the same moment share one
-- statement, commit_activations, which takes them as one JSON array. This is the shape
-- of one element (what was a parameter of the one-activation statement before). JSON
-- payloads the runtime already holds as text (a task's result and error) come as text
-- and are cast by the statement, so that their key order survives (see 0005).

CREATE TYPE rhythm.activation_commit AS (
    n                integer,      -- its place in the batch (its row back says it)
    id               text,         -- the workflow
    token            bigint,       -- the claim it commits under
    now              timestamptz,
    status           text,         -- suspended, or how it ended (completed, failed, ...)
    result           text,         -- ... and then its result or error (JSON text)
    error            text,
    rows             json,         -- promises: new ones and those this activation changed
    consumed         jsonb,        -- buffered signals its new waits took
    effects          json,         -- tasks and child workflows it requested
    default_queue    text,
    save             boolean,      -- false: a wake-up that settled nothing, or it ended
    snapshot         jsonb,
    next_promise_id  integer,
    waiting_on       integer,
    refs             integer[],
    wake_seq         bigint,       -- as claimed: a different one means woken meanwhile
    cancel_delivered boolean,
    worker           text,         -- requested tasks this worker runs itself ...
    lease_until      timestamptz,  -- ... are inserted claimed for it, leased until then,
    local_queues     text[],       -- ... if on one of these queues
    task_id          text,         -- a resumed activation: the task outcome it records
    task_token       bigint,
    task_status      text,
    task_result      text,
    task_error       text
);

