use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::base32;
use crate::error::{Detail, Error, ErrorKind};
use crate::key::{Id, KeyRing};
use crate::layout::{
    BODY_BYTES, BODY_CHARS, DOMAIN, HEADER_BYTES, ID_BYTES, MAX_INPUT_LEN, MAX_KIND_LEN,
    MAX_NOT_AFTER, NOT_AFTER_BYTES, SEPARATOR, TAG_BYTES, VERSION,
};

type HmacSha256 = Hmac<Sha256>;

/// Mints, renders and verifies the handles of one kind.
///
/// Cloning is cheap (one reference count); a `Codec` is `Send + Sync` and
/// meant to be shared by all request handlers.
#[derive(Clone)]
pub struct Codec {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Box<str>,
    ring: KeyRing,
    /// One HMAC state per key, ascending by key id, that has already
    /// absorbed the key and the domain-and-kind prefix. Cloning one costs a
    /// copy of a few words instead of two SHA-256 blocks of key setup.
    macs: Vec<(u16, HmacSha256)>,
}

/// A freshly minted handle and the random [`Id`] inside it.
#[derive(Clone, PartialEq, Eq)]
pub struct Minted {
    /// The handle text to give to the client.
    pub handle: String,
    /// The new id, to store the named state under.
    pub id: Id,
}

/// What a successfully verified handle says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verified {
    /// The id of the named state.
    pub id: Id,
    /// The last unix second at which the handle is valid.
    pub not_after: u64,
    /// The id of the key that signed the handle. When it is not the ring's
    /// [`signing_key_id`](KeyRing::signing_key_id), the caller may re-render
    /// the handle to move the client onto the current key.
    pub key_id: u16,
}

impl Codec {
    /// Makes a codec for handles of `kind`, whose text starts with `"{kind}_"`.
    ///
    /// The kind takes part in the tag, so a handle of one kind never
    /// verifies as another, even with the same keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKind`] unless `kind` is 1 to 16 characters `a-z`.
    pub fn new(kind: &str, ring: KeyRing) -> Result<Codec, Error> {
        if !is_valid_kind(kind) {
            return Err(Error::new(ErrorKind::InvalidKind));
        }
        let macs = ring
            .iter()
            .map(|key| {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(key.secret()).map_err(|_| {
                    Error::with(ErrorKind::InvalidKey, Detail::Len(key.secret().len()))
                })?;
                mac.update(DOMAIN);
                // `kind` is at most 16 bytes, so its length fits one byte.
                mac.update(&[kind.len() as u8]);
                mac.update(kind.as_bytes());
                Ok((key.id(), mac))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Codec {
            inner: Arc::new(Inner {
                kind: kind.into(),
                ring,
                macs,
            }),
        })
    }

    /// Returns the kind, the handle prefix without the `_`.
    pub fn kind(&self) -> &str {
        &self.inner.kind
    }

    /// Returns the key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.inner.ring
    }

    /// Mints a handle for a fresh random [`Id`], bound to `principal` and
    /// valid through the unix second `not_after` (clamped to
    /// [`MAX_NOT_AFTER`](crate::MAX_NOT_AFTER)).
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails (see
    /// [`Id::random`]).
    pub fn mint(&self, principal: &str, not_after: u64) -> Minted {
        let id = Id::random();
        Minted {
            handle: self.render(&id, principal, not_after),
            id,
        }
    }

    /// Renders the handle for an existing `id`, bound to `principal` and
    /// valid through `not_after` (clamped to
    /// [`MAX_NOT_AFTER`](crate::MAX_NOT_AFTER)), signed with the ring's
    /// signing key.
    ///
    /// The result depends only on its arguments and the signing key, so it
    /// can show again the handle of a task that already exists.
    pub fn render(&self, id: &Id, principal: &str, not_after: u64) -> String {
        let (key_id, prepared) = self.signing_mac();
        let mut body = [0u8; BODY_BYTES];
        let header = encode_header(key_id, id, not_after.min(MAX_NOT_AFTER));
        body[..HEADER_BYTES].copy_from_slice(&header);
        let tag = finish(prepared, &header, principal).finalize().into_bytes();
        body[HEADER_BYTES..].copy_from_slice(&tag[..TAG_BYTES]);

        let mut text = String::with_capacity(self.max_len());
        text.push_str(&self.inner.kind);
        text.push(char::from(SEPARATOR));
        text.extend(base32::encode(&body).iter().map(|&b| char::from(b)));
        text
    }

    /// Verifies that `text` is a handle of this codec's kind, issued to
    /// `principal` under a key of the ring, and not expired at `now` (unix
    /// seconds).
    ///
    /// A handle is valid while `now <= not_after`. Verification never
    /// panics and never allocates, whatever `text` is. Its checks run in
    /// this order, and the first that fails decides the error:
    ///
    /// 1. [`TooLong`](ErrorKind::TooLong): more than
    ///    [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN) bytes, checked before
    ///    anything else;
    /// 2. [`Malformed`](ErrorKind::Malformed) or
    ///    [`WrongKind`](ErrorKind::WrongKind): the prefix, the length and
    ///    the alphabet of the body;
    /// 3. [`UnsupportedVersion`](ErrorKind::UnsupportedVersion), then
    ///    [`UnknownKey`](ErrorKind::UnknownKey);
    /// 4. [`BadTag`](ErrorKind::BadTag): the tag, compared in constant time;
    /// 5. [`Expired`](ErrorKind::Expired).
    ///
    /// Steps 1 to 3 look only at what anyone can read in the handle. Expiry
    /// is checked only once the tag is known to be good, so `Expired` is
    /// never reported for a forged, altered or misdirected handle and an
    /// attacker learns nothing from which error comes back.
    ///
    /// # Errors
    ///
    /// As listed above.
    pub fn verify(&self, text: &str, principal: &str, now: u64) -> Result<Verified, Error> {
        if text.len() > MAX_INPUT_LEN {
            return Err(Error::with(ErrorKind::TooLong, Detail::Len(text.len())));
        }
        let bytes = text.as_bytes();
        let Some(sep) = bytes.iter().position(|&b| b == SEPARATOR) else {
            return Err(Error::new(ErrorKind::Malformed));
        };
        let (prefix, body) = (&bytes[..sep], &bytes[sep + 1..]);
        if prefix != self.inner.kind.as_bytes() {
            return Err(Error::new(if is_valid_kind_bytes(prefix) {
                ErrorKind::WrongKind
            } else {
                ErrorKind::Malformed
            }));
        }
        let Some(body) = base32::decode(body) else {
            return Err(Error::new(ErrorKind::Malformed));
        };
        let (header, tag) = body.split_at(HEADER_BYTES);
        let header = Header::parse(header);
        if header.version != VERSION {
            return Err(Error::with(
                ErrorKind::UnsupportedVersion,
                Detail::Version(header.version),
            ));
        }
        let Some(prepared) = self.mac_for(header.key_id) else {
            return Err(Error::with(
                ErrorKind::UnknownKey,
                Detail::KeyId(header.key_id),
            ));
        };
        finish(prepared, &body[..HEADER_BYTES], principal)
            .verify_truncated_left(tag)
            .map_err(|_| Error::new(ErrorKind::BadTag))?;
        if now > header.not_after {
            return Err(Error::with(
                ErrorKind::Expired,
                Detail::NotAfter(header.not_after),
            ));
        }
        Ok(Verified {
            id: header.id,
            not_after: header.not_after,
            key_id: header.key_id,
        })
    }

    /// Returns the length in bytes of every handle this codec renders
    /// (`kind.len() + 59`); no longer string can verify. Useful for column
    /// sizes and input schemas.
    pub fn max_len(&self) -> usize {
        self.inner.kind.len() + 1 + BODY_CHARS
    }

    fn signing_mac(&self) -> (u16, &HmacSha256) {
        // The ring is never empty and `macs` mirrors it, ascending by id.
        let (id, mac) = &self.inner.macs[self.inner.macs.len() - 1];
        (*id, mac)
    }

    fn mac_for(&self, key_id: u16) -> Option<&HmacSha256> {
        let macs = &self.inner.macs;
        macs.binary_search_by_key(&key_id, |(id, _)| *id)
            .ok()
            .map(|i| &macs[i].1)
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("kind", &self.inner.kind)
            .field("ring", &self.inner.ring)
            .finish()
    }
}

impl fmt::Debug for Minted {
    /// Shows the kind prefix only: with the principal, a handle grants
    /// access, so logs should not hold it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self
            .handle
            .split_once(char::from(SEPARATOR))
            .map_or("", |(kind, _)| kind);
        f.debug_struct("Minted")
            .field("handle", &format_args!("\"{prefix}_…\""))
            .field("id", &self.id)
            .finish()
    }
}

/// The fields in front of the tag.
struct Header {
    version: u8,
    key_id: u16,
    id: Id,
    not_after: u64,
}

impl Header {
    /// Splits `HEADER_BYTES` bytes into fields. Callers pass a slice of
    /// exactly that length, cut from a fixed-size body.
    fn parse(bytes: &[u8]) -> Header {
        let mut version = [0u8; 1];
        let mut key_id = [0u8; 2];
        let mut id = [0u8; ID_BYTES];
        let mut not_after = [0u8; 8];
        let (v, rest) = bytes.split_at(1);
        let (k, rest) = rest.split_at(2);
        let (i, t) = rest.split_at(ID_BYTES);
        version.copy_from_slice(v);
        key_id.copy_from_slice(k);
        id.copy_from_slice(i);
        not_after[8 - NOT_AFTER_BYTES..].copy_from_slice(t);
        Header {
            version: version[0],
            key_id: u16::from_be_bytes(key_id),
            id: Id::from_bytes(id),
            not_after: u64::from_be_bytes(not_after),
        }
    }
}

/// Lays out version, key id, id and `not_after` (which must be at most
/// `MAX_NOT_AFTER`).
fn encode_header(key_id: u16, id: &Id, not_after: u64) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[0] = VERSION;
    header[1..3].copy_from_slice(&key_id.to_be_bytes());
    header[3..3 + ID_BYTES].copy_from_slice(id.as_bytes());
    header[3 + ID_BYTES..].copy_from_slice(&not_after.to_be_bytes()[8 - NOT_AFTER_BYTES..]);
    header
}

/// Completes a prepared MAC over the header and the length-prefixed
/// principal.
fn finish(prepared: &HmacSha256, header: &[u8], principal: &str) -> HmacSha256 {
    let mut mac = prepared.clone();
    mac.update(header);
    mac.update(&(principal.len() as u64).to_be_bytes());
    mac.update(principal.as_bytes());
    mac
}

fn is_valid_kind(kind: &str) -> bool {
    is_valid_kind_bytes(kind.as_bytes())
}

fn is_valid_kind_bytes(kind: &[u8]) -> bool {
    (1..=MAX_KIND_LEN).contains(&kind.len()) && kind.iter().all(u8::is_ascii_lowercase)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::key::Key;

    const NOW: u64 = 1_700_000_000;

    fn codec(kind: &str, ids: &[u16]) -> Codec {
        let keys = ids.iter().map(|&id| Key::new(id, &[id as u8; 32]).unwrap());
        Codec::new(kind, KeyRing::new(keys).unwrap()).unwrap()
    }

    fn kind_of(result: Result<Verified, Error>) -> ErrorKind {
        *result.unwrap_err().kind()
    }

    #[test]
    fn kinds() {
        let ring = || KeyRing::new([Key::generate(1)]).unwrap();
        for bad in [
            "",
            "ResearchTask",
            "task1",
            "ta_sk",
            "tâsk",
            "abcdefghijklmnopq",
        ] {
            let err = Codec::new(bad, ring()).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidKind, "{bad:?}");
        }
        for good in ["t", "task", "abcdefghijklmnop"] {
            let codec = Codec::new(good, ring()).unwrap();
            assert_eq!(codec.kind(), good);
            assert_eq!(codec.max_len(), good.len() + 59);
            assert_eq!(codec.mint("p", NOW).handle.len(), codec.max_len());
        }
    }

    #[test]
    fn known_answer() {
        // Pins the format: a change here breaks every issued handle.
        let codec = codec("task", &[1]);
        let id = Id::from_bytes(*b"0123456789abcdef");
        let text = codec.render(&id, "alice", NOW);
        assert_eq!(
            text,
            "task_04002c1h68sk8d9p6ww3jrb2cdj6asg0cn9z2055n3n9b4snzp798whh84"
        );
        let v = codec.verify(&text, "alice", NOW).unwrap();
        assert_eq!(
            v,
            Verified {
                id,
                not_after: NOW,
                key_id: 1
            }
        );
    }

    #[test]
    fn render_is_deterministic_and_bound_to_its_inputs() {
        let codec = codec("task", &[1]);
        let id = Id::from_bytes([9; 16]);
        let a = codec.render(&id, "alice", NOW);
        assert_eq!(a, codec.render(&id, "alice", NOW));
        assert_ne!(a, codec.render(&id, "bob", NOW));
        assert_ne!(a, codec.render(&id, "alice", NOW + 1));
        assert_ne!(a, codec.render(&Id::from_bytes([8; 16]), "alice", NOW));
    }

    #[test]
    fn principal_is_length_prefixed() {
        // Same bytes split differently between header and principal must
        // not collide; with an empty principal too.
        let codec = codec("task", &[1]);
        let m = codec.mint("", NOW);
        assert!(codec.verify(&m.handle, "", NOW).is_ok());
        assert_eq!(
            kind_of(codec.verify(&m.handle, "\0", NOW)),
            ErrorKind::BadTag
        );
    }

    #[test]
    fn expiry_is_inclusive_and_checked_after_the_tag() {
        let codec = codec("task", &[1]);
        let m = codec.mint("alice", NOW);
        assert!(codec.verify(&m.handle, "alice", 0).is_ok());
        assert!(codec.verify(&m.handle, "alice", NOW).is_ok());
        assert_eq!(
            kind_of(codec.verify(&m.handle, "alice", NOW + 1)),
            ErrorKind::Expired
        );
        // Expired and wrong principal: the tag decides.
        assert_eq!(
            kind_of(codec.verify(&m.handle, "bob", NOW + 1)),
            ErrorKind::BadTag
        );
    }

    #[test]
    fn not_after_is_clamped() {
        let codec = codec("task", &[1]);
        let m = codec.mint("alice", u64::MAX);
        let v = codec.verify(&m.handle, "alice", MAX_NOT_AFTER).unwrap();
        assert_eq!(v.not_after, MAX_NOT_AFTER);
        assert_eq!(
            kind_of(codec.verify(&m.handle, "alice", u64::MAX)),
            ErrorKind::Expired
        );
    }

    #[test]
    fn error_order() {
        let codec = codec("task", &[1, 2]);
        let good = codec.mint("alice", NOW).handle;

        let long = "x".repeat(MAX_INPUT_LEN + 1);
        let err = codec.verify(&long, "alice", NOW).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TooLong);
        assert_eq!(
            err.to_string(),
            "handle is 129 bytes long, more than the 128 accepted"
        );
        assert!(
            codec
                .verify(&"x".repeat(MAX_INPUT_LEN), "alice", NOW)
                .is_err()
        );

        for malformed in [
            "",
            "_",
            "task",
            "task_",
            "Task_x",
            "7_x",
            "task_abc",
            &good[..62],
        ] {
            assert_eq!(
                kind_of(codec.verify(malformed, "alice", NOW)),
                ErrorKind::Malformed,
                "{malformed:?}"
            );
        }
        let other = good.replacen("task_", "job_", 1);
        assert_eq!(
            kind_of(codec.verify(&other, "alice", NOW)),
            ErrorKind::WrongKind
        );

        // Re-encode bodies with a chosen header to reach the later checks.
        let body = |f: &dyn Fn(&mut [u8; BODY_BYTES])| {
            let prefix_len = "task_".len();
            let mut body = base32::decode(&good.as_bytes()[prefix_len..]).unwrap();
            f(&mut body);
            let text: String = base32::encode(&body)
                .iter()
                .map(|&b| char::from(b))
                .collect();
            format!("task_{text}")
        };
        let v2 = body(&|b| b[0] = 2);
        let err = codec.verify(&v2, "alice", NOW).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnsupportedVersion);
        assert_eq!(
            err.to_string(),
            "handle has format version 2, but only version 1 is supported"
        );

        let k9 = body(&|b| b[1..3].copy_from_slice(&9u16.to_be_bytes()));
        let err = codec.verify(&k9, "alice", NOW).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnknownKey);
        assert_eq!(
            err.to_string(),
            "handle is signed with key id 9, which is not in the key ring"
        );

        // Claiming the other key in the ring fails on the tag.
        let k1 = body(&|b| b[1..3].copy_from_slice(&1u16.to_be_bytes()));
        assert_eq!(kind_of(codec.verify(&k1, "alice", NOW)), ErrorKind::BadTag);

        // Pushing the expiry forward fails on the tag, not as Expired.
        let later = body(&|b| b[23] ^= 1);
        assert_eq!(
            kind_of(codec.verify(&later, "alice", NOW + 10)),
            ErrorKind::BadTag
        );
    }

    #[test]
    fn kind_is_inside_the_tag() {
        // Same keys, same body, other prefix: the tag must not carry over.
        let tasks = codec("task", &[1]);
        let jobs = codec("job", &[1]);
        let handle = tasks.mint("alice", NOW).handle;
        let moved = handle.replacen("task_", "job_", 1);
        assert_eq!(
            kind_of(jobs.verify(&moved, "alice", NOW)),
            ErrorKind::BadTag
        );
    }

    #[test]
    fn errors_do_not_leak_handles() {
        let codec = codec("task", &[1]);
        let handle = codec.mint("alice", NOW).handle;
        let body = &handle["task_".len()..];
        for (text, principal, now) in [
            (handle.as_str(), "bob", NOW),
            (handle.as_str(), "alice", NOW + 1),
        ] {
            let err = codec.verify(text, principal, now).unwrap_err();
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains(&body[..8]), "{shown}");
            }
        }
    }

    #[test]
    fn debug_output_is_redacted() {
        let codec = codec("task", &[3]);
        let m = codec.mint("alice", NOW);
        let debug = format!("{m:?}");
        assert!(
            debug.starts_with("Minted { handle: \"task_…\", id: Id("),
            "{debug}"
        );
        assert!(!debug.contains(&m.handle[5..]));
        assert_eq!(
            format!("{codec:?}"),
            "Codec { kind: \"task\", ring: KeyRing { key_ids: [3], signing_key_id: 3 } }"
        );
    }

    #[test]
    fn codec_is_cheap_to_share() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Codec>();
        let codec = codec("task", &[1]);
        let clone = codec.clone();
        assert!(Arc::ptr_eq(&codec.inner, &clone.inner));
    }
}
