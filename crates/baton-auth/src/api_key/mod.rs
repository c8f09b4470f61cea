//! API keys: the format, generating, parsing, hashing and verifying them, and where their
//! records come from ([`directory`]).
//!
//! # Format
//!
//! ```text
//! baton_<id>_<secret><check>
//! baton_4h2vr6tw0qmk8x1d_5b8n3p0zx7q4hm9c2dkrt6f1wy3e8gja0vbcs2e
//!       └──── id ──────┘ └──────────── secret ───────────┘└check┘
//! ```
//!
//! * `baton_`: a fixed prefix, so secret scanners can recognise a leaked key with the regular
//!   expression `baton_[0-9a-hjkmnp-tv-z]{16}_[0-9a-hjkmnp-tv-z]{39}`.
//! * `id`: 80 random bits (16 characters): the key's public name, shown by `token list`,
//!   used to look the key up, and safe to log.
//! * `secret`: 160 random bits (32 characters) from the operating system's CSPRNG.
//! * `check`: the first 32 bits of SHA-256 of everything before it (7 characters), so a
//!   typo or a truncated copy is refused without a store read, and scanners can tell a real
//!   key from a look-alike.
//!
//! All parts use Crockford's base32 alphabet in lowercase (`0-9 a-z` without `i l o u`),
//! without padding; each key has exactly one spelling. A key is 62 characters long.
//!
//! # Hashing
//!
//! Only a hash of the secret is stored: SHA-256 over a domain string, the id and the secret.
//! A slow password hash (Argon2, bcrypt) would add nothing: those exist to make guessing
//! *low-entropy* passwords expensive, but a 160-bit random secret cannot be guessed at any
//! speed, so even a leaked table of hashes yields no key. A fast hash keeps verification at a
//! microsecond, so checking a key on every request costs nothing. The id is hashed in so that
//! a hash copied to another record does not verify there. Verification compares hashes in
//! constant time.

pub mod directory;

use std::{fmt, str::FromStr, sync::LazyLock};

use data_encoding::{Encoding, Specification};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind};

/// The prefix every API key starts with.
pub const API_KEY_PREFIX: &str = "baton_";

/// The longest principal name an API key can be issued to.
pub const MAX_PRINCIPAL_NAME_LEN: usize = 128;

const ID_BYTES: usize = 10;
const ID_CHARS: usize = 16;
const SECRET_BYTES: usize = 20;
const SECRET_CHARS: usize = 32;
const CHECK_BYTES: usize = 4;
const CHECK_CHARS: usize = 7;
const KEY_LEN: usize = API_KEY_PREFIX.len() + ID_CHARS + 1 + SECRET_CHARS + CHECK_CHARS;

const HASH_DOMAIN: &[u8] = b"baton-api-key-v1\0";

/// Crockford's base32 alphabet in lowercase, unpadded, with canonical trailing bits.
static BASE32: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str("0123456789abcdefghjkmnpqrstvwxyz");
    #[allow(clippy::expect_used)] // a constant specification; checked by every test
    spec.encoding().expect("valid base32 specification")
});

/// The public id of an API key: 16 characters of the key alphabet.
///
/// It names the key in the store and in `token list`, and may be logged.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn random() -> ApiKeyId {
        let mut bytes = [0u8; ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        ApiKeyId(BASE32.encode(&bytes))
    }

    fn is_valid(s: &str) -> bool {
        s.len() == ID_CHARS && BASE32.decode(s.as_bytes()).is_ok()
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyId({})", self.0)
    }
}

impl FromStr for ApiKeyId {
    type Err = Error;

    /// Parses a stored or typed id (as given to `token revoke`).
    fn from_str(s: &str) -> Result<ApiKeyId, Error> {
        if ApiKeyId::is_valid(s) {
            Ok(ApiKeyId(s.to_owned()))
        } else {
            Err(Error::new(ErrorKind::InvalidApiKeyId))
        }
    }
}

/// The stored hash of an API key's secret (32 bytes of SHA-256). Its `Debug` output is
/// redacted; [`KeyHash::to_hex`] and [`KeyHash::from_hex`] convert it for a text column.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// The hash from its 32 bytes (a binary column).
    pub fn from_bytes(bytes: [u8; 32]) -> KeyHash {
        KeyHash(bytes)
    }

    /// The hash's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex digits (a text column).
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Result<KeyHash, Error> {
        data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(KeyHash)
            .ok_or_else(|| Error::new(ErrorKind::InvalidKeyHash))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

/// A freshly generated API key: the full key, to show its owner once, and the id and hash to
/// store. `Debug` redacts the key.
pub struct NewApiKey {
    key: String,
    id: ApiKeyId,
    hash: KeyHash,
}

impl NewApiKey {
    /// Generates a key from the operating system's CSPRNG.
    pub fn generate() -> NewApiKey {
        let id = ApiKeyId::random();
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let hash = hash_secret(&id, &secret);
        let mut key = format!("{API_KEY_PREFIX}{id}_{}", BASE32.encode(&secret));
        let check = checksum(&key);
        key.push_str(&check);
        NewApiKey { key, id, hash }
    }

    /// The full key. Show it to its owner once; never store or log it.
    pub fn reveal(&self) -> &str {
        &self.key
    }

    /// The key's public id.
    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }

    /// The hash to store.
    pub fn hash(&self) -> &KeyHash {
        &self.hash
    }
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A key as presented by a caller, parsed but not yet verified. `Debug` redacts the secret.
pub struct PresentedApiKey {
    id: ApiKeyId,
    secret: [u8; SECRET_BYTES],
}

impl PresentedApiKey {
    /// Parses a presented key: prefix, lengths, alphabet, canonical spelling and checksum.
    /// Errors are [`ErrorKind::MalformedApiKey`] and never contain the input.
    pub fn parse(key: &str) -> Result<PresentedApiKey, Error> {
        let malformed = |why: &str| Error::with_detail(ErrorKind::MalformedApiKey, why);
        let body = key
            .strip_prefix(API_KEY_PREFIX)
            .ok_or_else(|| malformed("it does not start with baton_"))?;
        if key.len() != KEY_LEN || !key.is_ascii() {
            return Err(malformed(&format!(
                "it is {} characters long, not {KEY_LEN} ASCII characters",
                key.chars().count()
            )));
        }
        let (id, rest) = body.split_at(ID_CHARS);
        let (secret, check) = rest
            .strip_prefix('_')
            .ok_or_else(|| malformed("no '_' after the id"))?
            .split_at(SECRET_CHARS);
        if !ApiKeyId::is_valid(id) {
            return Err(malformed("the id has a character outside the alphabet"));
        }
        let secret: [u8; SECRET_BYTES] = BASE32
            .decode(secret.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("the secret has a character outside the alphabet"))?;
        let expected = checksum(&key[..KEY_LEN - CHECK_CHARS]);
        if !bool::from(expected.as_bytes().ct_eq(check.as_bytes())) {
            return Err(malformed("the checksum does not match"));
        }
        Ok(PresentedApiKey {
            id: ApiKeyId(id.to_owned()),
            secret,
        })
    }

    /// The key's public id, to look its record up by.
    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }

    /// The hash of this key's secret.
    pub fn hash(&self) -> KeyHash {
        hash_secret(&self.id, &self.secret)
    }

    /// Whether this key's secret hashes to `stored`, compared in constant time.
    pub fn verify(&self, stored: &KeyHash) -> bool {
        self.hash().0.ct_eq(&stored.0).into()
    }
}

impl fmt::Debug for PresentedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedApiKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether a bearer value is meant as an API key (it has the key prefix). Such a value
/// never reaches the JWT path: a JWT starts with `eyJ`.
pub fn looks_like_api_key(bearer: &str) -> bool {
    bearer.starts_with(API_KEY_PREFIX)
}

/// Checks a principal name for an API key: 1 to [`MAX_PRINCIPAL_NAME_LEN`] characters of
/// `A-Z a-z 0-9 . _ - @ +`. The key then acts for the principal `key:<name>`.
pub fn validate_principal_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PRINCIPAL_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidPrincipalName))
    }
}

fn hash_secret(id: &ApiKeyId, secret: &[u8; SECRET_BYTES]) -> KeyHash {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN);
    hasher.update(id.0.as_bytes());
    hasher.update([0]);
    hasher.update(secret);
    KeyHash(hasher.finalize().into())
}

fn checksum(prefix_id_secret: &str) -> String {
    let digest = Sha256::digest(prefix_id_secret.as_bytes());
    BASE32.encode(&digest[..CHECK_BYTES])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let new = NewApiKey::generate();
        let key = new.reveal();
        assert_eq!(key.len(), KEY_LEN);
        assert_eq!(KEY_LEN, 62);
        assert!(key.starts_with("baton_"));
        assert!(looks_like_api_key(key));
        let presented = PresentedApiKey::parse(key).unwrap();
        assert_eq!(presented.id(), new.id());
        assert!(presented.verify(new.hash()));
        assert!(!presented.verify(NewApiKey::generate().hash()));
        // The documented scanner pattern matches.
        let (id, tail) = key["baton_".len()..].split_once('_').unwrap();
        assert_eq!((id.len(), tail.len()), (16, 39));
        let alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
        assert!(id.chars().chain(tail.chars()).all(|c| alphabet.contains(c)));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let new = NewApiKey::generate();
        let shown = format!(
            "{new:?} {:?}",
            PresentedApiKey::parse(new.reveal()).unwrap()
        );
        let secret_part = &new.reveal()[23..];
        assert!(!shown.contains(secret_part), "{shown}");
        assert!(!shown.contains(&new.hash().to_hex()), "{shown}");
        assert!(shown.contains(new.id().as_str()));
        assert_eq!(format!("{:?}", new.hash()), "KeyHash(<redacted>)");
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason_and_without_the_key() {
        let good = NewApiKey::generate().reveal().to_owned();
        let mut typo = good.clone().into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let upper = good.to_uppercase().replacen("BATON_", "baton_", 1);
        let cases = [
            ("ghp_abc".to_owned(), "it does not start with baton_"),
            (
                good[..61].to_owned(),
                "it is 61 characters long, not 62 ASCII characters",
            ),
            (
                good.replacen('_', "-", 2).replacen('-', "_", 1),
                "no '_' after the id",
            ),
            (typo, "the checksum does not match"),
            (
                format!("baton_{}é{}", &good[6..20], &good[22..]),
                "it is 61 characters long, not 62 ASCII characters",
            ),
            (upper, "the id has a character outside the alphabet"),
        ];
        for (key, why) in cases {
            let err = PresentedApiKey::parse(&key).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::MalformedApiKey);
            assert!(err.to_string().ends_with(why), "{err} / {why}");
            if key.len() > 40 {
                assert!(!err.to_string().contains(&key[key.len() - 20..]));
            }
        }
    }

    #[test]
    fn hashes_round_trip_as_hex_and_bind_the_id() {
        let new = NewApiKey::generate();
        assert_eq!(
            &KeyHash::from_hex(&new.hash().to_hex()).unwrap(),
            new.hash()
        );
        assert_eq!(
            KeyHash::from_hex("zz").unwrap_err().kind(),
            &ErrorKind::InvalidKeyHash
        );
        let secret = [7u8; SECRET_BYTES];
        let a = hash_secret(&"0000000000000000".parse().unwrap(), &secret);
        let b = hash_secret(&"0000000000000001".parse().unwrap(), &secret);
        assert_ne!(a, b);
    }

    #[test]
    fn principal_names() {
        for ok in ["alice", "ci-bot", "team.research@example.com", "a+b_c"] {
            validate_principal_name(ok).unwrap();
        }
        let long = "a".repeat(MAX_PRINCIPAL_NAME_LEN + 1);
        for bad in ["", "has space", "key:x", "oauth#x", "é", long.as_str()] {
            assert_eq!(
                validate_principal_name(bad).unwrap_err().kind(),
                &ErrorKind::InvalidPrincipalName,
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "baton_[0-9a-z_]{0,70}", any in "baton_\\PC{50,60}") {
            let _ = PresentedApiKey::parse(&input);
            let _ = PresentedApiKey::parse(&any);
        }

        #[test]
        fn any_single_character_change_is_refused(pos in 6usize..62, c in "[0-9a-z_]") {
            let key = NewApiKey::generate().reveal().to_owned();
            let mut changed = key.clone();
            changed.replace_range(pos..pos + 1, &c);
            prop_assume!(changed != key);
            prop_assert!(PresentedApiKey::parse(&changed).is_err());
        }
    }
}
