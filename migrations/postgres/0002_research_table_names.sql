-- The research domain's tables get research_ names, so that "tasks" stays free for the MCP
-- Tasks extension. Renames are catalog-only changes: no row is rewritten. Foreign keys
-- follow the table by oid.

ALTER TABLE tasks RENAME TO research_tasks;
ALTER TABLE findings RENAME TO research_findings;
ALTER TABLE idempotency_keys RENAME TO research_idempotency_keys;

ALTER INDEX tasks_owner_created_id_idx RENAME TO research_tasks_owner_created_id_idx;
ALTER INDEX tasks_expires_at_idx RENAME TO research_tasks_expires_at_idx;
ALTER INDEX idempotency_keys_task_id_idx RENAME TO research_idempotency_keys_task_id_idx;
ALTER INDEX tasks_pkey RENAME TO research_tasks_pkey;
ALTER INDEX findings_pkey RENAME TO research_findings_pkey;
ALTER INDEX idempotency_keys_pkey RENAME TO research_idempotency_keys_pkey;
