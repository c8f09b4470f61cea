-- Tool tasks: the MCP Tasks extension's durable tool calls (one row per call run as a
-- task). JSON columns hold text; times are INTEGER milliseconds.
--
-- A worker holds a task through its lease (lease_owner, lease_until) and the attempt
-- number it claimed it with (attempts): every write of the worker names that attempt, so
-- a worker whose lease was taken over changes nothing.

CREATE TABLE tool_tasks (
    id               BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    owner            TEXT    NOT NULL,
    tool             TEXT    NOT NULL,
    arguments        TEXT    NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('working', 'input_required', 'completed', 'failed', 'cancelled')),
    status_message   TEXT,
    input_requests   TEXT    NOT NULL DEFAULT '{}',
    input_responses  TEXT    NOT NULL DEFAULT '{}',
    asked_keys       TEXT    NOT NULL DEFAULT '[]',
    checkpoint       TEXT,
    outcome          TEXT,
    poll_interval_ms INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- Claims: the oldest runnable task.
CREATE INDEX tool_tasks_runnable ON tool_tasks (status, created_at, id);
-- The per-owner live-task quota.
CREATE INDEX tool_tasks_owner ON tool_tasks (owner, expires_at);
-- The sweeper.
CREATE INDEX tool_tasks_expires ON tool_tasks (expires_at);
