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

/// An API key as a [`crate::KeyStore`] keeps it: everything but the key's secret, of which
/// only a hash is stored. Which principal and scopes it grants is the server's business; the
/// store keeps the texts it is given.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    /// The key's public id (unique).
    pub id: String,
    /// The principal name the key acts for.
    pub principal: String,
    /// The scopes it grants, as text (space-separated names).
    pub scopes: String,
    /// The hash of the key's secret (32 bytes).
    pub hash: Vec<u8>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApiKey")
            .field("id", &self.id)
            .field("principal", &self.principal)
            .field("scopes", &self.scopes)
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}
