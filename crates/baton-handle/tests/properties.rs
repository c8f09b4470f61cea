//! Property tests of the public API.

#![allow(clippy::unwrap_used)]

use baton_handle::{Codec, ErrorKind, Id, Key, KeyRing, MAX_NOT_AFTER};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;

fn ring(ids: &[u16]) -> KeyRing {
    KeyRing::new(
        ids.iter()
            .map(|&id| Key::new(id, &[id as u8 ^ 0x5a; 32]).unwrap()),
    )
    .unwrap()
}

/// The kind of error a verification that must fail returned.
fn rejection(result: Result<baton_handle::Verified, baton_handle::Error>) -> ErrorKind {
    *result.unwrap_err().kind()
}

fn tasks() -> Codec {
    Codec::new("task", ring(&[1, 2])).unwrap()
}

/// A principal: arbitrary Unicode, including empty.
fn principal() -> impl Strategy<Value = String> {
    ".{0,40}"
}

/// An id, a principal and a `not_after` that is not yet past at `NOW`.
fn issued() -> impl Strategy<Value = (Id, String, u64)> {
    (any::<[u8; 16]>(), principal(), NOW..=MAX_NOT_AFTER)
        .prop_map(|(id, p, t)| (Id::from_bytes(id), p, t))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip((id, principal, not_after) in issued()) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        prop_assert_eq!(text.len(), codec.max_len());
        prop_assert!(text.starts_with("task_"));
        prop_assert!(text.bytes().all(|b| b == b'_' || b.is_ascii_digit() || b.is_ascii_lowercase()));
        let v = codec.verify(&text, &principal, NOW).unwrap();
        prop_assert_eq!(v.id, id);
        prop_assert_eq!(v.not_after, not_after);
        prop_assert_eq!(v.key_id, 2);
    }

    #[test]
    fn mint_round_trip(principal in principal(), not_after in any::<u64>()) {
        let codec = tasks();
        let minted = codec.mint(&principal, not_after);
        let v = codec.verify(&minted.handle, &principal, 0).unwrap();
        prop_assert_eq!(v.id, minted.id);
        prop_assert_eq!(v.not_after, not_after.min(MAX_NOT_AFTER));
    }

    #[test]
    fn expired_once_past_not_after((id, principal, not_after) in issued(), late in 1u64..1_000_000) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        prop_assert!(codec.verify(&text, &principal, not_after).is_ok());
        let err = codec.verify(&text, &principal, not_after.saturating_add(late)).unwrap_err();
        prop_assert_eq!(err.kind(), &ErrorKind::Expired);
    }

    #[test]
    fn single_character_change_is_rejected(
        (id, principal, not_after) in issued(),
        index in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let at = index.index(text.len());
        let original = text.as_bytes()[at] as char;
        prop_assume!(replacement != original);
        let mut changed = String::with_capacity(text.len() + 4);
        changed.push_str(&text[..at]);
        changed.push(replacement);
        changed.push_str(&text[at + 1..]);
        prop_assert!(codec.verify(&changed, &principal, NOW).is_err(), "{changed:?} verified");
    }

    #[test]
    fn single_symbol_change_in_body_is_rejected(
        (id, principal, not_after) in issued(),
        index in any::<prop::sample::Index>(),
        symbol in "[0-9a-hjkmnp-tv-z]",
    ) {
        // Like the test above, but every replacement is a valid symbol, so
        // the change reaches the version, key id or tag checks.
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let at = "task_".len() + index.index(text.len() - "task_".len());
        prop_assume!(text[at..at + 1] != *symbol);
        let changed = format!("{}{}{}", &text[..at], symbol, &text[at + 1..]);
        prop_assert!(codec.verify(&changed, &principal, NOW).is_err(), "{changed:?} verified");
    }

    #[test]
    fn truncation_is_rejected((id, principal, not_after) in issued(), cut in any::<prop::sample::Index>()) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let shorter = &text[..cut.index(text.len())];
        prop_assert!(codec.verify(shorter, &principal, NOW).is_err());
    }

    #[test]
    fn extension_is_rejected((id, principal, not_after) in issued(), tail in ".{1,80}", front in any::<bool>()) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let longer = if front { format!("{tail}{text}") } else { format!("{text}{tail}") };
        prop_assert!(codec.verify(&longer, &principal, NOW).is_err());
    }

    #[test]
    fn other_principal_is_rejected((id, principal, not_after) in issued(), other in principal()) {
        prop_assume!(principal != other);
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let err = codec.verify(&text, &other, NOW).unwrap_err();
        prop_assert_eq!(err.kind(), &ErrorKind::BadTag);
    }

    #[test]
    fn retired_key_is_rejected((id, principal, not_after) in issued()) {
        let before = Codec::new("task", ring(&[1, 2])).unwrap();
        let text = before.render(&id, &principal, not_after);
        // Key 2 signed; retire it (a ring with only key 1, or with 1 and 3).
        for ids in [&[1][..], &[1, 3][..]] {
            let after = Codec::new("task", ring(ids)).unwrap();
            let err = after.verify(&text, &principal, NOW).unwrap_err();
            prop_assert_eq!(err.kind(), &ErrorKind::UnknownKey);
        }
    }

    #[test]
    fn same_key_id_with_another_secret_is_rejected((id, principal, not_after) in issued(), secret in any::<[u8; 32]>()) {
        let codec = tasks();
        let text = codec.render(&id, &principal, not_after);
        let impostor_key = Key::new(2, &secret).unwrap();
        prop_assume!(impostor_key.secret() != [2u8 ^ 0x5a; 32]);
        let impostor = Codec::new("task", KeyRing::new([impostor_key]).unwrap()).unwrap();
        let err = impostor.verify(&text, &principal, NOW).unwrap_err();
        prop_assert_eq!(err.kind(), &ErrorKind::BadTag);
    }

    #[test]
    fn other_kind_is_rejected((id, principal, not_after) in issued(), kind in "[a-z]{1,16}") {
        prop_assume!(kind != "task");
        let tasks = tasks();
        let others = Codec::new(&kind, ring(&[1, 2])).unwrap();
        let task_handle = tasks.render(&id, &principal, not_after);
        let other_handle = others.render(&id, &principal, not_after);
        prop_assert_eq!(rejection(others.verify(&task_handle, &principal, NOW)), ErrorKind::WrongKind);
        prop_assert_eq!(rejection(tasks.verify(&other_handle, &principal, NOW)), ErrorKind::WrongKind);
        // Relabelling the prefix does not help: the kind is inside the tag.
        let relabelled = other_handle.replacen(&format!("{kind}_"), "task_", 1);
        prop_assert_eq!(rejection(tasks.verify(&relabelled, &principal, NOW)), ErrorKind::BadTag);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,200}", principal in principal(), now in any::<u64>()) {
        let codec = tasks();
        if let Err(err) = codec.verify(&text, &principal, now) {
            // Errors never echo the input.
            if text.len() >= 8 {
                prop_assert!(!err.to_string().contains(&text));
            }
        }
    }

    #[test]
    fn handle_shaped_strings_never_panic(body in "[0-9a-z_]{0,70}", principal in principal(), now in any::<u64>()) {
        let codec = tasks();
        let text = format!("task_{body}");
        prop_assert!(codec.verify(&text, &principal, now).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let codec = tasks();
        let text = String::from_utf8_lossy(&bytes);
        let _ = codec.verify(&text, "alice", NOW);
    }
}
