use std::fmt;

use crate::layout::{MAX_INPUT_LEN, MAX_KIND_LEN, MIN_SECRET_LEN, VERSION};

/// The error returned by every fallible operation of this crate.
///
/// Its [`kind`](Error::kind) tells what went wrong. Neither its `Display` nor
/// its `Debug` output ever contains a key secret, a handle's text or a tag:
/// at most a length, a version number, a key id or an expiry time, none of
/// which is secret. Such output is safe to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: Detail,
}

/// The kind of an [`Error`].
///
/// The first group of variants comes from [`Codec::verify`](crate::Codec::verify),
/// listed in the order in which verification checks for them; the second from
/// building keys, key rings and codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is longer than [`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN)
    /// bytes; it was rejected before any parsing.
    TooLong,
    /// The input is not a handle: no `_` separator, a prefix that is not a
    /// valid kind, a body of the wrong length, or a symbol outside the
    /// alphabet or a non-canonical spelling.
    Malformed,
    /// The input is well-formed but is a handle of another kind (its prefix
    /// names a kind other than the codec's).
    WrongKind,
    /// The handle carries a format version this build does not understand.
    UnsupportedVersion,
    /// The handle names a key id that is not in the key ring, for instance a
    /// key that was retired.
    UnknownKey,
    /// The tag does not match: the handle was forged or altered, or is
    /// presented by a principal other than the one it was issued to.
    BadTag,
    /// The handle is authentic but its `not_after` time has passed.
    Expired,
    /// A key secret is shorter than 32 bytes.
    InvalidKey,
    /// A codec kind is not 1 to 16 lowercase ASCII letters.
    InvalidKind,
    /// A key ring was built from no keys.
    EmptyKeyRing,
    /// A key ring was built from two keys with the same id.
    DuplicateKeyId,
}

/// Non-secret numbers that make a message precise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detail {
    None,
    Len(usize),
    Version(u8),
    KeyId(u16),
    NotAfter(u64),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            detail: Detail::None,
        }
    }

    pub(crate) fn with(kind: ErrorKind, detail: Detail) -> Error {
        Error { kind, detail }
    }

    /// Returns the kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The key id the error is about: the id an [`ErrorKind::UnknownKey`] handle names, or
    /// the repeated id of [`ErrorKind::DuplicateKeyId`]. `None` for every other kind.
    ///
    /// A verifier can use it to tell a key it has not loaded *yet* (an id above every id
    /// it knows) from a retired one. The id is read before the tag is checked, so it is
    /// unauthenticated: use it to decide whether to look again, never to trust a handle.
    pub fn key_id(&self) -> Option<u16> {
        match self.detail {
            Detail::KeyId(id) => Some(id),
            _ => None,
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Detail as D;
        use ErrorKind as K;
        match (self.kind, self.detail) {
            (K::TooLong, D::Len(len)) => write!(
                f,
                "handle is {len} bytes long, more than the {MAX_INPUT_LEN} accepted"
            ),
            (K::UnsupportedVersion, D::Version(v)) => write!(
                f,
                "handle has format version {v}, but only version {VERSION} is supported"
            ),
            (K::UnknownKey, D::KeyId(id)) => write!(
                f,
                "handle is signed with key id {id}, which is not in the key ring"
            ),
            (K::Expired, D::NotAfter(t)) => {
                write!(f, "handle expired: it was valid until {t} (unix seconds)")
            }
            (K::InvalidKey, D::Len(len)) => write!(
                f,
                "key secret is {len} bytes long, but at least {MIN_SECRET_LEN} are required"
            ),
            (K::DuplicateKeyId, D::KeyId(id)) => {
                write!(f, "key id {id} appears more than once in the key ring")
            }
            (kind, _) => kind.fmt(f),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLong => write!(
                f,
                "handle is longer than the {MAX_INPUT_LEN} bytes accepted"
            ),
            ErrorKind::Malformed => f.write_str("malformed handle"),
            ErrorKind::WrongKind => f.write_str("handle is of another kind than expected"),
            ErrorKind::UnsupportedVersion => f.write_str("unsupported handle format version"),
            ErrorKind::UnknownKey => f.write_str("handle is signed with a key not in the key ring"),
            ErrorKind::BadTag => f.write_str(
                "handle tag does not verify: the handle is forged or altered, \
                 or presented by another principal",
            ),
            ErrorKind::Expired => f.write_str("handle expired"),
            ErrorKind::InvalidKey => write!(
                f,
                "key secret is shorter than the {MIN_SECRET_LEN} bytes required"
            ),
            ErrorKind::InvalidKind => write!(
                f,
                "handle kind must be 1 to {MAX_KIND_LEN} lowercase ASCII letters (a-z)"
            ),
            ErrorKind::EmptyKeyRing => f.write_str("key ring must hold at least one key"),
            ErrorKind::DuplicateKeyId => {
                f.write_str("a key id appears more than once in the key ring")
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_given_only_where_the_error_is_about_a_key() {
        assert_eq!(
            Error::with(ErrorKind::UnknownKey, Detail::KeyId(7)).key_id(),
            Some(7)
        );
        assert_eq!(
            Error::with(ErrorKind::Expired, Detail::NotAfter(7)).key_id(),
            None
        );
        assert_eq!(Error::new(ErrorKind::BadTag).key_id(), None);
    }

    #[test]
    fn messages_are_precise() {
        assert_eq!(
            Error::with(ErrorKind::TooLong, Detail::Len(300)).to_string(),
            "handle is 300 bytes long, more than the 128 accepted"
        );
        assert_eq!(
            Error::with(ErrorKind::UnknownKey, Detail::KeyId(7)).to_string(),
            "handle is signed with key id 7, which is not in the key ring"
        );
        assert_eq!(
            Error::with(ErrorKind::Expired, Detail::NotAfter(1_700_000_000)).to_string(),
            "handle expired: it was valid until 1700000000 (unix seconds)"
        );
        assert_eq!(
            Error::with(ErrorKind::InvalidKey, Detail::Len(5)).to_string(),
            "key secret is 5 bytes long, but at least 32 are required"
        );
        assert_eq!(
            Error::new(ErrorKind::Malformed).to_string(),
            "malformed handle"
        );
        assert_eq!(
            Error::new(ErrorKind::InvalidKind).to_string(),
            "handle kind must be 1 to 16 lowercase ASCII letters (a-z)"
        );
    }

    #[test]
    fn is_send_sync_static_error() {
        fn check<T: std::error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
