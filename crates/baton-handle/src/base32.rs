//! Fixed-size, strict, allocation-free base32 for handle bodies.
//!
//! The alphabet is Crockford's, in lowercase and without the check symbol:
//! `0-9` and `a-z` minus `i`, `l`, `o` and `u`. Unlike Crockford's decoder,
//! this one is strict: it accepts only the 32 lowercase symbols above and
//! rejects encodings whose unused trailing bits are not zero. Every body
//! therefore has exactly one spelling, so no two distinct strings ever
//! verify as the same handle.

use crate::layout::{BODY_BYTES, BODY_CHARS};

/// The 32 symbols, in value order.
pub(crate) const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Marks a byte that is not a symbol of [`ALPHABET`].
const INVALID: u8 = 0xff;

/// Maps every byte to its 5-bit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Number of low bits of the last symbol that carry no data.
const TRAILING_BITS: u32 = (BODY_CHARS * 5 - BODY_BYTES * 8) as u32;

// The body must fill all but fewer than one symbol's worth of bits.
const _: () = assert!(TRAILING_BITS < 5);

/// Encodes a body into its `BODY_CHARS` ASCII symbols.
pub(crate) fn encode(input: &[u8; BODY_BYTES]) -> [u8; BODY_CHARS] {
    let mut out = [0u8; BODY_CHARS];
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let mut o = 0;
    for &byte in input {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out[o] = ALPHABET[((acc >> bits) & 31) as usize];
            o += 1;
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out[o] = ALPHABET[((acc << (5 - bits)) & 31) as usize];
    }
    out
}

/// Decodes exactly `BODY_CHARS` symbols; `None` for anything else,
/// including a non-canonical final symbol.
pub(crate) fn decode(input: &[u8]) -> Option<[u8; BODY_BYTES]> {
    if input.len() != BODY_CHARS {
        return None;
    }
    let mut out = [0u8; BODY_BYTES];
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let mut o = 0;
    for &symbol in input {
        let value = DECODE[usize::from(symbol)];
        if value == INVALID {
            return None;
        }
        acc = (acc << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[o] = (acc >> bits) as u8;
            o += 1;
        }
        acc &= (1 << bits) - 1;
    }
    // Whatever is left are the trailing pad bits of the final symbol.
    debug_assert_eq!(bits, TRAILING_BITS);
    if acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference() -> data_encoding::Encoding {
        let mut spec = data_encoding::Specification::new();
        spec.symbols
            .push_str(std::str::from_utf8(ALPHABET).unwrap());
        spec.encoding().unwrap()
    }

    #[test]
    fn alphabet_is_unambiguous_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for &c in ALPHABET {
            assert!(c.is_ascii_digit() || c.is_ascii_lowercase());
            assert!(!b"ilou".contains(&c));
            assert!(seen.insert(c));
        }
    }

    #[test]
    fn zero_and_ones() {
        let zero = [0u8; BODY_BYTES];
        assert_eq!(encode(&zero), [b'0'; BODY_CHARS]);
        assert_eq!(decode(&[b'0'; BODY_CHARS]), Some(zero));
        let ones = [0xffu8; BODY_BYTES];
        let text = encode(&ones);
        assert_eq!(decode(&text), Some(ones));
        // The last symbol carries only its high bits.
        assert_ne!(text[BODY_CHARS - 1], b'z');
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        let mut text = encode(&[0u8; BODY_BYTES]);
        text[BODY_CHARS - 1] = b'1';
        assert_eq!(decode(&text), None);
    }

    #[test]
    fn rejects_other_symbols_and_lengths() {
        let good = encode(&[7u8; BODY_BYTES]);
        for bad in [b'A', b'i', b'l', b'o', b'u', b'=', b'_', b' ', 0, 0xff] {
            let mut text = good;
            text[3] = bad;
            assert_eq!(decode(&text), None, "symbol {bad:#x}");
        }
        assert_eq!(decode(&good[1..]), None);
        assert_eq!(decode(&[good.as_slice(), b"0"].concat()), None);
        assert_eq!(decode(b""), None);
    }

    proptest! {
        #[test]
        fn matches_reference_implementation(bytes in prop::array::uniform32(any::<u8>()), tail in prop::array::uniform4(any::<u8>())) {
            let mut body = [0u8; BODY_BYTES];
            body[..32].copy_from_slice(&bytes);
            body[32..].copy_from_slice(&tail);
            let ours = encode(&body);
            let theirs = reference().encode(&body);
            prop_assert_eq!(std::str::from_utf8(&ours).unwrap(), theirs.as_str());
            prop_assert_eq!(decode(&ours), Some(body));
        }

        #[test]
        fn decode_agrees_with_reference_on_arbitrary_text(text in "[0-9a-z]{58}") {
            let ours = decode(text.as_bytes());
            let theirs = reference().decode(text.as_bytes()).ok();
            prop_assert_eq!(ours.map(|b| b.to_vec()), theirs);
        }
    }
}
