use std::fmt;

use rand::{RngCore, TryRngCore, rngs::OsRng};

use crate::error::{Detail, Error, ErrorKind};
use crate::layout::{ID_BYTES, MIN_SECRET_LEN};

/// The random part of a handle: 128 bits from a CSPRNG.
///
/// It is stable for the life of the thing it names (re-rendering a handle
/// for the same `Id` with another expiry or principal keeps the `Id`), so it
/// is the key to store server-side state under. It is *not* secret: anyone
/// holding the handle can read it.
///
/// `Debug` shows only the first four bytes, enough to tell ids apart in a
/// log without putting whole store keys there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; ID_BYTES]);

impl Id {
    /// Wraps 16 bytes, for example a store key read back from a database.
    pub fn from_bytes(bytes: [u8; ID_BYTES]) -> Id {
        Id(bytes)
    }

    /// Returns the 16 bytes.
    pub fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// Draws a fresh id from the thread-local CSPRNG (`rand::rng()`: ChaCha12,
    /// seeded and periodically reseeded from the operating system).
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails when the
    /// thread-local generator is first seeded or reseeded.
    pub fn random() -> Id {
        let mut bytes = [0u8; ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Id(bytes)
    }
}

impl From<[u8; ID_BYTES]> for Id {
    fn from(bytes: [u8; ID_BYTES]) -> Id {
        Id(bytes)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Id({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// An HMAC-SHA256 key and the 16-bit id that handles name it by.
///
/// `Debug` shows the id and redacts the secret; there is no `Display`.
#[derive(Clone)]
pub struct Key {
    id: u16,
    secret: Box<[u8]>,
}

impl Key {
    /// Makes a key from a persisted secret of at least 32 bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] if `secret` is shorter than 32 bytes.
    pub fn new(id: u16, secret: &[u8]) -> Result<Key, Error> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                Detail::Len(secret.len()),
            ));
        }
        Ok(Key {
            id,
            secret: secret.into(),
        })
    }

    /// Makes a key with a fresh 32-byte secret read directly from the
    /// operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails.
    pub fn generate(id: u16) -> Key {
        let mut secret = vec![0u8; MIN_SECRET_LEN].into_boxed_slice();
        OsRng.unwrap_err().fill_bytes(&mut secret);
        Key { id, secret }
    }

    /// Returns the key id that handles signed with this key carry.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Returns the secret, for persisting the key. Treat it as a password:
    /// never log it.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field(
                "secret",
                &format_args!("<redacted {} bytes>", self.secret.len()),
            )
            .finish()
    }
}

/// A non-empty set of keys with distinct ids, one of which signs.
///
/// One key signs new handles (by default the one with the largest id; see
/// [`KeyRing::with_signer`]); every key in the ring verifies. To rotate without
/// downtime, add the new key to every ring first (it verifies), then make it the signer
/// ([`KeyRing::with_signer`]), keep the old one while handles signed with it may still be
/// in use, then drop it: its handles then fail with [`ErrorKind::UnknownKey`].
#[derive(Clone)]
pub struct KeyRing {
    /// Sorted by id, ascending; never empty.
    keys: Vec<Key>,
    /// Index into `keys` of the key that signs.
    signer: usize,
}

impl KeyRing {
    /// Builds a ring from keys given in any order.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKeyRing`] if there are no keys;
    /// [`ErrorKind::DuplicateKeyId`] if two keys share an id.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Result<KeyRing, Error> {
        let mut keys: Vec<Key> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(Error::new(ErrorKind::EmptyKeyRing));
        }
        keys.sort_by_key(Key::id);
        if let Some(pair) = keys.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(Error::with(
                ErrorKind::DuplicateKeyId,
                Detail::KeyId(pair[0].id),
            ));
        }
        let signer = keys.len() - 1;
        Ok(KeyRing { keys, signer })
    }

    /// Builds a ring in which the key `signer` signs and every key verifies.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::new`], and [`ErrorKind::UnknownKey`] if no key has the id `signer`.
    pub fn with_signer(keys: impl IntoIterator<Item = Key>, signer: u16) -> Result<KeyRing, Error> {
        let mut ring = KeyRing::new(keys)?;
        ring.signer = ring
            .keys
            .binary_search_by_key(&signer, Key::id)
            .map_err(|_| Error::with(ErrorKind::UnknownKey, Detail::KeyId(signer)))?;
        Ok(ring)
    }

    /// Returns the id of the key that signs.
    pub fn signing_key_id(&self) -> u16 {
        self.signing_key().id
    }

    /// Returns the key that signs.
    pub fn signing_key(&self) -> &Key {
        // `new` guarantees at least one key and a signer index inside the ring.
        &self.keys[self.signer]
    }

    /// Returns the ids of all keys, ascending.
    pub fn key_ids(&self) -> Vec<u16> {
        self.keys.iter().map(Key::id).collect()
    }

    /// Returns the key with this id, if the ring holds it.
    pub fn get(&self, id: u16) -> Option<&Key> {
        self.keys
            .binary_search_by_key(&id, Key::id)
            .ok()
            .map(|i| &self.keys[i])
    }

    /// Iterates over the keys, ascending by id.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .field("signing_key_id", &self.signing_key_id())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn id_debug_shows_only_a_prefix() {
        let id = Id::from_bytes([0xab; 16]);
        assert_eq!(format!("{id:?}"), "Id(abababab…)");
        assert_eq!(id.as_bytes(), &[0xab; 16]);
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(Id::random(), Id::random());
    }

    #[test]
    fn key_secret_length() {
        let err = Key::new(1, &[0; 31]).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidKey);
        assert!(Key::new(1, &[0; 32]).is_ok());
        assert!(Key::new(1, &[0; 200]).is_ok());
    }

    #[test]
    fn generated_keys_are_random_and_redacted() {
        let a = Key::generate(3);
        let b = Key::generate(3);
        assert_eq!(a.secret().len(), 32);
        assert_ne!(a.secret(), b.secret());
        let debug = format!("{a:?}");
        assert_eq!(debug, "Key { id: 3, secret: <redacted 32 bytes> }");
    }

    #[test]
    fn ring_rules() {
        assert_eq!(
            KeyRing::new([]).unwrap_err().kind(),
            &ErrorKind::EmptyKeyRing
        );
        let err = KeyRing::new([Key::generate(2), Key::generate(1), Key::generate(2)]).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::DuplicateKeyId);
        assert_eq!(
            err.to_string(),
            "key id 2 appears more than once in the key ring"
        );

        let ring = KeyRing::new([Key::generate(5), Key::generate(9), Key::generate(1)]).unwrap();
        assert_eq!(ring.signing_key_id(), 9);
        assert_eq!(ring.key_ids(), vec![1, 5, 9]);
        assert_eq!(ring.get(5).map(Key::id), Some(5));
        assert!(ring.get(4).is_none());
        let debug = format!("{ring:?}");
        assert_eq!(debug, "KeyRing { key_ids: [1, 5, 9], signing_key_id: 9 }");
    }

    #[test]
    fn any_key_of_the_ring_can_sign() {
        let keys = || [Key::generate(5), Key::generate(9), Key::generate(1)];
        let ring = KeyRing::with_signer(keys(), 5).unwrap();
        assert_eq!(ring.signing_key_id(), 5);
        assert_eq!(ring.key_ids(), vec![1, 5, 9], "every key still verifies");
        let err = KeyRing::with_signer(keys(), 7).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnknownKey);
    }
}
