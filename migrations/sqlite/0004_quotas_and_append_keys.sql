-- Per-owner quotas and idempotent appends.
--
-- research_tasks.stored_bytes: the UTF-8 bytes of a task's findings.
-- research_usage: per owner, the tasks not yet swept and their findings' bytes; kept in step
-- by every start, append, sweep and import, in the same transaction.
-- research_append_keys: one row per (task, key) of an add_findings call made with an
-- idempotency key: what a retry must get back.

ALTER TABLE research_tasks ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0);

UPDATE research_tasks SET stored_bytes = (
    SELECT coalesce(sum(length(CAST(f.text AS BLOB))), 0)
    FROM research_findings AS f WHERE f.task_id = research_tasks.id
);

CREATE TABLE research_usage (
    owner        TEXT    NOT NULL PRIMARY KEY,
    live_tasks   INTEGER NOT NULL DEFAULT 0 CHECK (live_tasks >= 0),
    stored_bytes INTEGER NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0)
) WITHOUT ROWID;

INSERT INTO research_usage (owner, live_tasks, stored_bytes)
    SELECT owner, count(*), sum(stored_bytes) FROM research_tasks GROUP BY owner;

CREATE TABLE research_append_keys (
    task_id    BLOB    NOT NULL REFERENCES research_tasks (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    digest     BLOB    NOT NULL CHECK (length(digest) = 32),
    last_index INTEGER NOT NULL,
    PRIMARY KEY (task_id, key)
) WITHOUT ROWID;
