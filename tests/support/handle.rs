//! Reading a handle's public header, as a reviewer would, without the signing keys.
//!
//! A handle is `task_` and 58 symbols of lowercase Crockford base32 (no padding) over 36
//! bytes: version (1), key id (2, big-endian), task id (16), not-after (5), tag (12). See
//! `crates/baton-handle/src/codec.rs`. The decoding uses `data-encoding`, not baton's own
//! base32, so a bug there cannot hide here.

/// The 32 symbols of the handle body, in value order.
const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";

/// The fields anyone can read in a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format version.
    pub version: u8,
    /// The id of the key that signed it.
    pub key_id: u16,
}

/// Decodes the header of a `task_` handle; panics if `handle` is not one.
pub fn header(handle: &str) -> Header {
    let body = handle
        .strip_prefix("task_")
        .unwrap_or_else(|| panic!("not a task handle: {handle:?}"));
    assert_eq!(body.len(), 58, "a handle body has 58 symbols: {handle:?}");
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str(ALPHABET);
    let bytes = spec
        .encoding()
        .expect("the handle alphabet is a valid base32 alphabet")
        .decode(body.as_bytes())
        .unwrap_or_else(|e| panic!("handle body is not base32: {e}: {handle:?}"));
    assert_eq!(bytes.len(), 36, "a handle body has 36 bytes: {handle:?}");
    Header {
        version: bytes[0],
        key_id: u16::from_be_bytes([bytes[1], bytes[2]]),
    }
}

#[cfg(test)]
mod tests {
    use baton_handle::{Codec, Key, KeyRing};

    use super::*;

    #[test]
    fn reads_the_key_id_baton_handle_wrote() {
        for key_id in [0, 1, 2, 3, 255, 256, 513, 65_535] {
            let key = Key::new(key_id, &[7; 32]).unwrap();
            let codec = Codec::new("task", KeyRing::new([key]).unwrap()).unwrap();
            for _ in 0..16 {
                // Fresh random ids: the symbols the key id shares with the random id vary.
                let handle = codec.mint("alice", 1_700_000_000).handle;
                assert_eq!(header(&handle), Header { version: 1, key_id }, "{handle}");
            }
        }
    }

    #[test]
    fn reads_the_pinned_known_answer() {
        // The known-answer handle of crates/baton-handle/src/codec.rs: key 1.
        let h = header("task_04002c1h68sk8d9p6ww3jrb2cdj6asg0cn9z2055n3n9b4snzp798whh84");
        assert_eq!(
            h,
            Header {
                version: 1,
                key_id: 1
            }
        );
    }
}
