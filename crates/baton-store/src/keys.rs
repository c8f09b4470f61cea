//! What a [`crate::KeyStore`] keeps: handle-signing keys.

use chrono::{DateTime, Utc};

/// A handle-signing key kept in the store, so that handles survive restarts and every
/// instance on one database signs and verifies alike.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, carried inside each handle.
    pub key_id: u16,
    /// The secret (32 bytes).
    pub secret: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}
