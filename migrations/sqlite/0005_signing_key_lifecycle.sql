-- Handle-signing keys get a life: added (verify only), promoted (signs), retired (neither).
-- Keys stored before this migration were signing keys from their creation.

ALTER TABLE signing_keys ADD COLUMN promoted_at INTEGER;
ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;
UPDATE signing_keys SET promoted_at = created_at;
