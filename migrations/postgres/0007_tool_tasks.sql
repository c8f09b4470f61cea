-- Tool tasks: the MCP Tasks extension's durable tool calls (one row per call run as a
-- task).
--
-- A worker holds a task through its lease (lease_owner, lease_until) and the attempt
-- number it claimed it with (attempts): every write of the worker names that attempt, so
-- a worker whose lease was taken over changes nothing. Claims use FOR UPDATE SKIP LOCKED.
-- Every change a client can see is announced on the channel `baton_tool_tasks` (the id,
-- hex-encoded), so that every instance can push it to its subscribers.

CREATE TABLE tool_tasks (
    id               BYTEA       NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    owner            TEXT        NOT NULL,
    tool             TEXT        NOT NULL,
    arguments        JSONB       NOT NULL,
    status           TEXT        NOT NULL
        CHECK (status IN ('working', 'input_required', 'completed', 'failed', 'cancelled')),
    status_message   TEXT,
    input_requests   JSONB       NOT NULL DEFAULT '{}',
    input_responses  JSONB       NOT NULL DEFAULT '{}',
    asked_keys       JSONB       NOT NULL DEFAULT '[]',
    checkpoint       JSONB,
    outcome          JSONB,
    poll_interval_ms INTEGER     NOT NULL,
    attempts         INTEGER     NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);

-- Claims: the oldest runnable task.
CREATE INDEX tool_tasks_runnable ON tool_tasks (created_at, id) WHERE status = 'working';
-- The per-owner live-task quota.
CREATE INDEX tool_tasks_owner ON tool_tasks (owner, expires_at);
-- The sweeper.
CREATE INDEX tool_tasks_expires ON tool_tasks (expires_at);
