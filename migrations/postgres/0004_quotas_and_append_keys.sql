-- Per-owner quotas and idempotent appends.
--
-- research_tasks.stored_bytes: the UTF-8 bytes of a task's findings.
-- research_usage: per owner, the tasks not yet swept and their findings' bytes; kept in step
-- by every start, append, sweep and import, in the same statement. Changes that check a
-- quota lock the owner's row first, so racing changes of one owner are counted exactly.
-- research_append_keys: one row per (task, key) of an add_findings call made with an
-- idempotency key: what a retry must get back.

ALTER TABLE research_tasks ADD COLUMN stored_bytes bigint NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0);

UPDATE research_tasks t SET stored_bytes = s.bytes
FROM (SELECT task_id, sum(octet_length(text)) AS bytes FROM research_findings GROUP BY task_id) s
WHERE s.task_id = t.id;

CREATE TABLE research_usage (
    owner        text   PRIMARY KEY,
    live_tasks   bigint NOT NULL DEFAULT 0 CHECK (live_tasks >= 0),
    stored_bytes bigint NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0)
);

INSERT INTO research_usage (owner, live_tasks, stored_bytes)
    SELECT owner, count(*), sum(stored_bytes) FROM research_tasks GROUP BY owner;

CREATE TABLE research_append_keys (
    task_id    bytea   NOT NULL REFERENCES research_tasks (id) ON DELETE CASCADE,
    key        text    NOT NULL,
    digest     bytea   NOT NULL CHECK (octet_length(digest) = 32),
    last_index integer NOT NULL,
    PRIMARY KEY (task_id, key)
);
