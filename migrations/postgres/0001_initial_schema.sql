-- baton's Postgres schema, version 1.
--
-- Times are timestamptz, always written with millisecond precision (the store truncates
-- every time it binds), so that a task read back equals the task that was written.

CREATE TABLE tasks (
    id              bytea       PRIMARY KEY CHECK (octet_length(id) = 16),
    owner           text        NOT NULL,
    topic           text        NOT NULL,
    depth           smallint    NOT NULL CHECK (depth BETWEEN 0 AND 255),
    status          text        NOT NULL CHECK (status IN ('running', 'complete', 'cancelled')),
    findings_count  integer     NOT NULL DEFAULT 0 CHECK (findings_count >= 0),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    hard_expires_at timestamptz NOT NULL,
    CHECK (expires_at <= hard_expires_at)
);

-- list_tasks: an owner's tasks, newest first, ties broken by id (keyset pagination).
CREATE INDEX tasks_owner_created_id_idx ON tasks (owner, created_at DESC, id DESC);
-- sweep_expired: the oldest expiries first.
CREATE INDEX tasks_expires_at_idx ON tasks (expires_at);

CREATE TABLE findings (
    task_id bytea   NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    idx     integer NOT NULL CHECK (idx >= 1),
    text    text    NOT NULL,
    PRIMARY KEY (task_id, idx)
);

CREATE TABLE idempotency_keys (
    owner   text     NOT NULL,
    key     text     NOT NULL,
    task_id bytea    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    topic   text     NOT NULL,
    depth   smallint NOT NULL,
    PRIMARY KEY (owner, key)
);

-- Lets the cascade from a swept task find its key without a scan.
CREATE INDEX idempotency_keys_task_id_idx ON idempotency_keys (task_id);

CREATE TABLE signing_keys (
    key_id     integer     PRIMARY KEY CHECK (key_id BETWEEN 0 AND 65535),
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL
);
