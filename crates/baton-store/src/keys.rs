//! What a [`crate::KeyStore`] keeps: handle-signing keys.

use chrono::{DateTime, Utc};

/// A handle-signing key kept in the store, so that handles survive restarts and every
/// instance on one database signs and verifies alike.
///
/// A key's life: added (it verifies, so every instance learns it), promoted (it signs new
/// handles: the promoted key with the latest `promoted_at` signs), retired (it no longer
/// verifies: the handles it signed stop working). See [`signer`].
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, carried inside each handle.
    pub key_id: u16,
    /// The secret as the server gives it to the store (the server may keep it encrypted).
    pub secret: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it became (or will be, once read) the signing key; `None` while verify-only.
    pub promoted_at: Option<DateTime<Utc>>,
    /// When it was retired; a retired key neither signs nor verifies.
    pub retired_at: Option<DateTime<Utc>>,
}

impl SigningKeyRecord {
    /// A new key that only verifies until promoted.
    pub fn verify_only(key_id: u16, secret: Vec<u8>, created_at: DateTime<Utc>) -> Self {
        SigningKeyRecord {
            key_id,
            secret,
            created_at,
            promoted_at: None,
            retired_at: None,
        }
    }

    /// Whether the key still verifies handles.
    pub fn is_active(&self) -> bool {
        self.retired_at.is_none()
    }
}

/// The key that signs among `keys`: of the active, promoted keys, the one promoted last
/// (ties: the larger id). `None` when no active key was promoted.
pub fn signer(keys: &[SigningKeyRecord]) -> Option<&SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.is_active())
        .filter_map(|k| k.promoted_at.map(|at| (at, k.key_id, k)))
        .max_by_key(|(at, id, _)| (*at, *id))
        .map(|(_, _, k)| k)
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("promoted_at", &self.promoted_at)
            .field("retired_at", &self.retired_at)
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
