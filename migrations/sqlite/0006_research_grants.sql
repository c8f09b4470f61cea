-- Delegation: a research task shared with another principal (a grant), with a right
-- ('read' < 'append' < 'complete'), a flag for re-sharing, and its own end.
--
-- A grant is live while revoked_at IS NULL, expires_at > now, every grant up its parent
-- chain is live, and its task is live. Grants go with their task (ON DELETE CASCADE), and
-- re-shares with the grant they were made from. Times are INTEGER milliseconds.

CREATE TABLE research_grants (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    task_id    BLOB    NOT NULL REFERENCES research_tasks (id) ON DELETE CASCADE,
    owner      TEXT    NOT NULL,
    grantor    TEXT    NOT NULL,
    delegate   TEXT    NOT NULL,
    access     TEXT    NOT NULL CHECK (access IN ('read', 'append', 'complete')),
    reshare    INTEGER NOT NULL CHECK (reshare IN (0, 1)),
    parent_id  BLOB    REFERENCES research_grants (id) ON DELETE CASCADE,
    depth      INTEGER NOT NULL CHECK (depth BETWEEN 1 AND 255),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

-- list_research_tasks for a delegate: its grants, newest first, ties by id.
CREATE INDEX research_grants_delegate ON research_grants (delegate, created_at DESC, id DESC);
-- list_research_task_shares, and the cascade from a swept task.
CREATE INDEX research_grants_task ON research_grants (task_id);
-- Revocation down the chain, and the cascade from a deleted grant.
CREATE INDEX research_grants_parent ON research_grants (parent_id);
-- sweep_grants.
CREATE INDEX research_grants_expires ON research_grants (expires_at);
