-- baton's SQLite schema.
--
-- Times are INTEGER milliseconds since the Unix epoch (UTC). Task ids are 16 raw bytes.
-- Every expiry check compares `expires_at` only: it is always capped by `hard_expires_at`.

CREATE TABLE tasks (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    owner           TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    depth           INTEGER NOT NULL CHECK (depth BETWEEN 0 AND 255),
    status          TEXT    NOT NULL CHECK (status IN ('running', 'complete', 'cancelled')),
    findings_count  INTEGER NOT NULL DEFAULT 0 CHECK (findings_count >= 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    hard_expires_at INTEGER NOT NULL,
    CHECK (expires_at <= hard_expires_at)
) WITHOUT ROWID;

-- list_tasks: an owner's tasks, newest first, ties by id (highest first).
CREATE INDEX tasks_owner_created ON tasks (owner, created_at DESC, id DESC);
-- sweep_expired.
CREATE INDEX tasks_expires ON tasks (expires_at);

CREATE TABLE findings (
    task_id BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL CHECK (idx >= 1),
    text    TEXT    NOT NULL,
    PRIMARY KEY (task_id, idx)
);

CREATE TABLE idempotency_keys (
    owner   TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    task_id BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    topic   TEXT    NOT NULL,
    depth   INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;

-- The cascade from tasks looks keys up by task.
CREATE INDEX idempotency_keys_task ON idempotency_keys (task_id);

CREATE TABLE signing_keys (
    key_id     INTEGER NOT NULL PRIMARY KEY CHECK (key_id BETWEEN 0 AND 65535),
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
