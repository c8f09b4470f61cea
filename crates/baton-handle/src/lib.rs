/*!
Signed, typed, caller-bound, expiring opaque handles.

An MCP server gives its clients *handles*: short strings that name state
kept on the server, such as a running task. This crate mints such handles
and checks them when they come back. A handle is

* **typed**: its text starts with a kind such as `task_`, and a handle of
  one kind never verifies as another;
* **unguessable**: it carries a 128-bit [`Id`] from a CSPRNG, which is also
  the stable key to store the named state under;
* **expiring**: it carries an absolute expiry, `not_after`, in unix seconds;
* **caller-bound**: its tag covers the *principal* (the authenticated caller)
  it was issued to, although the principal is not in the handle, so a
  handle that leaks to another caller is useless to them;
* **signed and rotatable**: its tag is HMAC-SHA256 under a key named by a
  16-bit key id, from a [`KeyRing`] that can hold old and new keys at once;
* **versioned, short and URL-safe**: lowercase letters, digits and one `_`,
  63 characters for the kind `task`.

The crate depends on no other part of baton and can be used alone.

# Layout

The text is `{kind}_{body}`, where `kind` is 1 to 16 letters `a-z` and
`body` is 36 bytes in base32 (58 characters, Crockford's alphabet in
lowercase: `0-9a-z` without `i`, `l`, `o`, `u`; no padding):

| bytes  | field       | contents                                              |
|--------|-------------|-------------------------------------------------------|
| 0      | version     | format version, [`VERSION`] = 1                       |
| 1..3   | key id      | `u16`, big-endian: the key that made the tag          |
| 3..19  | id          | 128 random bits, the [`Id`]                           |
| 19..24 | `not_after` | 40-bit big-endian unix seconds, last valid second     |
| 24..36 | tag         | first 96 bits of HMAC-SHA256, see below               |

The tag is HMAC-SHA256, under the key named by the key id, of a domain
string, the length-prefixed kind, bytes 0..24 above, and the
length-prefixed principal; it is truncated to its first 96 bits. A handle is
therefore `kind.len() + 59` bytes long ([`Codec::max_len`]), for example
`task_04002c1h68sk8d9p6ww3jrb2cdj6asg0cn9z2055n3n9b4snzp798whh84` for
the kind `task`.

# Security properties

* Forging or altering a handle needs the key: any change to the kind, the
  version, the key id, the id, the expiry or the tag, and any other
  principal, makes [`Codec::verify`] fail, except with probability 2⁻⁹⁶.
* Decoding is strict: only the lowercase alphabet, exactly 58 symbols, and
  zero padding bits in the last one. Each handle has one spelling.
* Verification is total and cheap: any input gives `Ok` or an [`Error`],
  never a panic; the length is capped at [`MAX_INPUT_LEN`] bytes before
  any parsing; nothing is allocated; the tag is compared in constant time.
* The checks run in a fixed order, documented on [`Codec::verify`]: what
  anyone can read (length, kind, version, key id) first, then the tag, and
  the expiry only after the tag is found good, so [`ErrorKind::Expired`]
  never tells an attacker anything about a handle they could not forge.
* Errors never show a handle's text, a tag or a key secret, and the `Debug`
  output of [`Key`] redacts the secret; that of [`Id`] and [`Minted`] is
  shortened too.

# Non-goals

* **Not encryption.** The id, the key id and the expiry can be read by anyone
  who holds the handle; only the principal is absent. Put nothing secret
  in them.
* **No revocation.** A handle stays valid until `not_after` or until its key
  leaves the ring; to end one sooner, delete the state its [`Id`] names.
* **No clock.** Callers pass `now`, which keeps the crate deterministic and
  testable. Expiries past [`MAX_NOT_AFTER`] (the year 36812) are clamped
  to it.
* Key secrets are kept in ordinary memory and are not zeroed on drop.

# Key rotation

The key with the **largest id** in a [`KeyRing`] signs; **every** key in it
verifies. To rotate:

1. Generate a key with an id larger than any in use ([`Key::generate`]),
   persist its [`Key::secret`], and add it to the ring. New handles are
   signed with it at once; handles signed with older keys keep verifying.
2. Wait until handles signed with the old key have expired or no longer
   matter. ([`Verified::key_id`] tells which key signed a handle, so a
   server can re-render one with [`Codec::render`] to move a client on.)
3. Remove the old key. Its handles now fail with [`ErrorKind::UnknownKey`].

# Examples

Mint a handle for a caller and verify it when the same caller brings it
back:

```
use baton_handle::{Codec, Key, KeyRing};

let ring = KeyRing::new([Key::generate(1)])?;
let tasks = Codec::new("task", ring)?;

let now = 1_700_000_000;
let minted = tasks.mint("alice", now + 3600);
assert!(minted.handle.starts_with("task_"));
assert_eq!(minted.handle.len(), tasks.max_len());

let verified = tasks.verify(&minted.handle, "alice", now)?;
assert_eq!(verified.id, minted.id);
assert_eq!(verified.not_after, now + 3600);
assert_eq!(verified.key_id, 1);
# Ok::<(), baton_handle::Error>(())
```

Another caller presenting the same handle is rejected, and so is a handle
of another kind:

```
use baton_handle::{Codec, ErrorKind, Key, KeyRing};

let ring = KeyRing::new([Key::generate(1)])?;
let tasks = Codec::new("task", ring.clone())?;
let sessions = Codec::new("session", ring)?;

let now = 1_700_000_000;
let handle = tasks.mint("alice", now + 3600).handle;

let err = tasks.verify(&handle, "mallory", now).unwrap_err();
assert_eq!(err.kind(), &ErrorKind::BadTag);

let err = sessions.verify(&handle, "alice", now).unwrap_err();
assert_eq!(err.kind(), &ErrorKind::WrongKind);
# Ok::<(), baton_handle::Error>(())
```

Rotate keys: the new key signs, the old one verifies until it is removed.
Secrets come from storage in a real server:

```
use baton_handle::{Codec, ErrorKind, Key, KeyRing};

let old = Key::new(1, &[0x11; 32])?;
let new = Key::new(2, &[0x22; 32])?;
let now = 1_700_000_000;

let before = Codec::new("task", KeyRing::new([old.clone()])?)?;
let old_handle = before.mint("alice", now + 3600).handle;

// Step 1: add the new key. It signs; the old handle still verifies.
let during = Codec::new("task", KeyRing::new([old, new.clone()])?)?;
assert_eq!(during.key_ring().signing_key_id(), 2);
let new_handle = during.mint("alice", now + 3600).handle;
assert_eq!(during.verify(&old_handle, "alice", now)?.key_id, 1);
assert_eq!(during.verify(&new_handle, "alice", now)?.key_id, 2);

// Step 3: remove the old key. Its handles stop verifying.
let after = Codec::new("task", KeyRing::new([new])?)?;
let err = after.verify(&old_handle, "alice", now).unwrap_err();
assert_eq!(err.kind(), &ErrorKind::UnknownKey);
assert!(after.verify(&new_handle, "alice", now).is_ok());
# Ok::<(), baton_handle::Error>(())
```

Expiry: a handle is valid up to and including its `not_after` second, and
re-rendering the same [`Id`] gives a handle with a new expiry:

```
use baton_handle::{Codec, ErrorKind, Key, KeyRing};

let tasks = Codec::new("task", KeyRing::new([Key::generate(7)])?)?;
let not_after = 1_700_000_000;
let minted = tasks.mint("alice", not_after);

assert!(tasks.verify(&minted.handle, "alice", not_after).is_ok());
let err = tasks.verify(&minted.handle, "alice", not_after + 1).unwrap_err();
assert_eq!(err.kind(), &ErrorKind::Expired);
assert_eq!(
    err.to_string(),
    "handle expired: it was valid until 1700000000 (unix seconds)",
);

// Rendering is deterministic: the same inputs give the same text.
let renewed = tasks.render(&minted.id, "alice", not_after + 3600);
assert_eq!(renewed, tasks.render(&minted.id, "alice", not_after + 3600));
assert_eq!(tasks.verify(&renewed, "alice", not_after + 1)?.id, minted.id);
# Ok::<(), baton_handle::Error>(())
```
*/

#![deny(missing_docs)]

mod base32;
mod codec;
mod error;
mod key;

pub use crate::codec::{Codec, Minted, Verified};
pub use crate::error::{Error, ErrorKind};
pub use crate::key::{Id, Key, KeyRing};
pub use crate::layout::{MAX_INPUT_LEN, MAX_NOT_AFTER, VERSION};

/// Sizes and constants of the handle format.
mod layout {
    /// The handle format version this build writes and reads.
    pub const VERSION: u8 = 1;

    /// The longest input, in bytes, that [`Codec::verify`](crate::Codec::verify)
    /// looks at; longer inputs fail with
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) before any parsing.
    /// Every valid handle is much shorter (at most 75 bytes).
    pub const MAX_INPUT_LEN: usize = 128;

    /// The latest expiry a handle can carry: 2⁴⁰ − 1 unix seconds, in the
    /// year 36812. Larger `not_after` values are clamped to it.
    pub const MAX_NOT_AFTER: u64 = (1 << (8 * NOT_AFTER_BYTES)) - 1;

    /// Prefix of every MAC input, so these tags mean nothing elsewhere.
    pub(crate) const DOMAIN: &[u8] = b"baton-handle\0";
    pub(crate) const SEPARATOR: u8 = b'_';
    pub(crate) const MAX_KIND_LEN: usize = 16;
    pub(crate) const MIN_SECRET_LEN: usize = 32;

    pub(crate) const ID_BYTES: usize = 16;
    pub(crate) const NOT_AFTER_BYTES: usize = 5;
    /// Version, key id, id, `not_after`.
    pub(crate) const HEADER_BYTES: usize = 1 + 2 + ID_BYTES + NOT_AFTER_BYTES;
    /// 96 bits of HMAC-SHA256.
    pub(crate) const TAG_BYTES: usize = 12;
    pub(crate) const BODY_BYTES: usize = HEADER_BYTES + TAG_BYTES;
    /// Base32 symbols for the body, without padding.
    pub(crate) const BODY_CHARS: usize = (BODY_BYTES * 8).div_ceil(5);

    const _: () = assert!(BODY_CHARS == 58);
    const _: () = assert!(MAX_KIND_LEN + 1 + BODY_CHARS <= MAX_INPUT_LEN);
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
