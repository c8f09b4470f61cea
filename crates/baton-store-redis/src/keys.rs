//! The key layout: every Redis key the store uses, named in one place.
//!
//! Keys of one owner share the hash tag `{<owner tag>}` (32 hex digits of SHA-256 of the
//! owner's name), so every key one change of a task touches lives in one hash slot and a
//! Lua script may take them all on Redis Cluster. Owner names never appear in key names (they
//! may hold `{` or `}`, which would break the tag).
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:{T}:t:<id>` | hash | a task: owner, topic, depth, status, count, times, list member, idempotency key |
//! | `P:{T}:f:<id>` | list | its findings, index 1 first |
//! | `P:{T}:a:<id>` | hash | its append idempotency keys → `digest:last index` |
//! | `P:{T}:meta` | hash | task id → `bytes|list member|idempotency key` (outlives the task's own keys, for the sweeper) |
//! | `P:{T}:ik` | hash | start idempotency key → task id |
//! | `P:{T}:bytes` | string | bytes of findings the owner's tasks hold |
//! | `P:{T}:l:all`, `P:{T}:l:<status>` | sorted sets | list members `<created ms, 16 digits>:<id hex>`, all score 0 (listing by lex range) |
//! | `P:sweep` | sorted set | `<owner tag>:<id hex>` scored by a time at or before the task's expiry (the sweeper's worklist) |
//! | `P:{keys}:sk`, `P:{keys}:sk:<id>` | set, hashes | handle-signing keys |
//! | `P:{keys}:api`, `P:{keys}:api:<id>` | set, hashes | API keys |

use baton_store::{ResearchStatus, ResearchTaskId};
use chrono::{DateTime, Utc};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// The names of one store's keys, under its prefix.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    prefix: String,
}

/// The keys of one owner (one hash slot).
#[derive(Clone, Debug)]
pub(crate) struct OwnerKeys {
    /// `P:{T}` (everything of this owner starts with it).
    base: String,
    /// The owner tag `T`.
    pub tag: String,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Layout {
        Layout {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The keys of `owner`.
    pub(crate) fn owner(&self, owner: &str) -> OwnerKeys {
        self.owner_by_tag(&owner_tag(owner))
    }

    /// The keys of the owner with tag `tag` (as the sweeper's worklist names them).
    pub(crate) fn owner_by_tag(&self, tag: &str) -> OwnerKeys {
        OwnerKeys {
            base: format!("{}:{{{tag}}}", self.prefix),
            tag: tag.to_owned(),
        }
    }

    /// The sweeper's worklist.
    pub(crate) fn sweep(&self) -> String {
        format!("{}:sweep", self.prefix)
    }

    /// The set of signing key ids.
    pub(crate) fn signing_key_ids(&self) -> String {
        format!("{}:{{keys}}:sk", self.prefix)
    }

    /// One signing key.
    pub(crate) fn signing_key(&self, key_id: u16) -> String {
        format!("{}:{{keys}}:sk:{key_id}", self.prefix)
    }

    /// The set of API key ids.
    pub(crate) fn api_key_ids(&self) -> String {
        format!("{}:{{keys}}:api", self.prefix)
    }

    /// One API key.
    pub(crate) fn api_key(&self, id: &str) -> String {
        format!("{}:{{keys}}:api:{id}", self.prefix)
    }
}

impl OwnerKeys {
    pub(crate) fn task(&self, id: &str) -> String {
        format!("{}:t:{id}", self.base)
    }
    pub(crate) fn findings(&self, id: &str) -> String {
        format!("{}:f:{id}", self.base)
    }
    pub(crate) fn append_keys(&self, id: &str) -> String {
        format!("{}:a:{id}", self.base)
    }
    pub(crate) fn meta(&self) -> String {
        format!("{}:meta", self.base)
    }
    pub(crate) fn start_keys(&self) -> String {
        format!("{}:ik", self.base)
    }
    pub(crate) fn bytes(&self) -> String {
        format!("{}:bytes", self.base)
    }
    /// The listing index of every task (`None`) or of one status.
    pub(crate) fn list(&self, status: Option<ResearchStatus>) -> String {
        match status {
            None => format!("{}:l:all", self.base),
            Some(s) => format!("{}:l:{}", self.base, s.as_str()),
        }
    }
    /// The sweeper's worklist member of task `id`.
    pub(crate) fn sweep_member(&self, id: &str) -> String {
        format!("{}:{id}", self.tag)
    }
}

/// The owner tag: 32 hex digits of SHA-256 of the owner's name.
pub(crate) fn owner_tag(owner: &str) -> String {
    let digest = Sha256::digest(owner.as_bytes());
    HEXLOWER.encode(&digest[..16])
}

/// A task id as it appears in key names and list members: 32 lowercase hex digits (so that
/// text order is byte order).
pub(crate) fn id_hex(id: &ResearchTaskId) -> String {
    HEXLOWER.encode(id.as_bytes())
}

/// Reads an id back from its hex form.
pub(crate) fn id_from_hex(hex: &str) -> Option<ResearchTaskId> {
    let bytes = HEXLOWER.decode(hex.as_bytes()).ok()?;
    ResearchTaskId::from_slice(&bytes)
}

/// A task's member in the listing indexes: creation time (ms, 16 digits, zero-padded) and id,
/// so that text order is listing order (newest first when read in reverse).
pub(crate) fn list_member(created_at: DateTime<Utc>, id: &ResearchTaskId) -> String {
    let ms = created_at.timestamp_millis().max(0);
    format!("{ms:016}:{}", id_hex(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn owner_keys_share_one_hash_tag_whatever_the_name() {
        let layout = Layout::new("baton");
        let keys = layout.owner("weird{name}");
        let tag = format!("{{{}}}", keys.tag);
        for key in [
            keys.task("00"),
            keys.findings("00"),
            keys.append_keys("00"),
            keys.meta(),
            keys.start_keys(),
            keys.bytes(),
            keys.list(None),
            keys.list(Some(ResearchStatus::Complete)),
        ] {
            // The first `{…}` of every key is the owner's tag.
            let start = key.find('{').expect("a tag");
            let end = key[start..].find('}').expect("closed") + start;
            assert_eq!(&key[start..=end], tag, "{key}");
        }
        assert_ne!(layout.owner("alice").tag, layout.owner("bob").tag);
    }

    #[test]
    fn list_members_sort_in_listing_order() {
        let t = |ms| Utc.timestamp_millis_opt(ms).single().expect("time");
        let a = list_member(t(1_000), &ResearchTaskId::from_bytes([0xff; 16]));
        let b = list_member(t(1_001), &ResearchTaskId::from_bytes([0; 16]));
        let c = list_member(t(1_001), &ResearchTaskId::from_bytes([1; 16]));
        assert!(a < b && b < c);
        let id = ResearchTaskId::from_bytes([0xab; 16]);
        assert_eq!(id_from_hex(&id_hex(&id)), Some(id));
        assert_eq!(id_from_hex("zz"), None);
    }
}
