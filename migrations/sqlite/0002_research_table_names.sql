-- The research domain's tables get research_ names, so that "tasks" stays free for the MCP
-- Tasks extension. SQLite (3.26+) rewrites the foreign keys that name a renamed table.
-- Index names are kept: they are internal and SQLite cannot rename an index.

ALTER TABLE tasks RENAME TO research_tasks;
ALTER TABLE findings RENAME TO research_findings;
ALTER TABLE idempotency_keys RENAME TO research_idempotency_keys;
