//! The bodies of baton's fuzz targets.
//!
//! Each target is a plain function of the input bytes that panics when a property does not
//! hold. The cargo-fuzz targets in `fuzz/` (nightly, coverage-guided) call them, and the
//! corpus replay in this crate's tests (stable, part of the normal test suite) feeds them
//! every committed file of `fuzz/corpus/<target>/`, so CI checks the seeds and every
//! regression seed without nightly.
//!
//! | target          | function                  | what must hold                                  |
//! |-----------------|---------------------------|-------------------------------------------------|
//! | `handle_verify` | [`handle_verify`]         | `Codec::verify` answers; an accepted handle is the one spelling of what it names, bound to its kind and principal |
//! | `cursor_decode` | [`cursor_decode`]         | the cursor decoders answer; a decoded position encodes back to itself |
//! | `http_jsonrpc`  | [`HttpApp::request`]      | the in-process HTTP app answers any request, never with a 5xx but the documented 503s |
//! | `search_tools`  | [`search_tools`]          | `Catalog::search` answers; hits are within the limit, unique, finite and ranked |
//!
//! ```
//! baton_fuzz::handle_verify(b"task_not-a-handle");
//! baton_fuzz::cursor_decode(b"ZjEuNDI");
//! baton_fuzz::search_tools(b"\x05create a github issue");
//! ```
#![deny(missing_docs)]

mod http_app;

use std::collections::HashSet;
use std::sync::LazyLock;

use baton_catalog::{Catalog, ErrorKind as CatalogErrorKind, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT};
use baton_handle::{Codec, Key, KeyRing};
use baton_server::cursor::{
    ListPosition, decode_findings, decode_list, decode_tasks, encode_findings, encode_list,
    encode_tasks,
};

pub use http_app::HttpApp;

/// The names of the targets, as in `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: [&str; 4] = [
    "handle_verify",
    "cursor_decode",
    "http_jsonrpc",
    "search_tools",
];

/// The key secrets of the handle codecs (fixed, so seeds minted with them stay valid).
pub const HANDLE_KEYS: [(u16, [u8; 32]); 2] = [(1, [0x11; 32]), (7, [0x77; 32])];
/// The principal the handle seeds were minted for.
pub const HANDLE_PRINCIPAL: &str = "alice";
/// The "now" handles are verified at (unix seconds): seeds expiring later are valid.
pub const HANDLE_NOW: u64 = 1_800_000_000;

fn codec(kind: &str) -> Codec {
    let keys = HANDLE_KEYS
        .iter()
        .map(|(id, secret)| Key::new(*id, secret).expect("fixed key"));
    let ring = KeyRing::with_signer(keys, 7).expect("fixed key ring");
    Codec::new(kind, ring).expect("fixed kind")
}

static CODECS: LazyLock<[Codec; 2]> = LazyLock::new(|| [codec("task"), codec("dtask")]);

/// The `task` and `dtask` codecs the target verifies with (for minting seeds).
pub fn handle_codecs() -> &'static [Codec; 2] {
    &CODECS
}

/// Handle verification on arbitrary text, with a `task` and a `dtask` codec.
///
/// An accepted handle must be the canonical rendering of what it names (one spelling per
/// handle), must not verify for another principal, nor as the other kind.
pub fn handle_verify(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let codecs = handle_codecs();
    for (i, codec) in codecs.iter().enumerate() {
        let Ok(verified) = codec.verify(&text, HANDLE_PRINCIPAL, HANDLE_NOW) else {
            continue;
        };
        assert!(
            verified.not_after >= HANDLE_NOW,
            "an expired handle verified"
        );
        assert_eq!(
            codec.render(&verified.id, HANDLE_PRINCIPAL, verified.not_after),
            text,
            "an accepted handle is not the one spelling of what it names"
        );
        assert_eq!(
            text.len(),
            codec.max_len(),
            "an accepted handle has another length"
        );
        assert!(
            codec.verify(&text, "mallory", HANDLE_NOW).is_err(),
            "a handle verified for another principal"
        );
        assert!(
            codecs[1 - i]
                .verify(&text, HANDLE_PRINCIPAL, HANDLE_NOW)
                .is_err(),
            "a handle verified as another kind"
        );
    }
}

/// The three cursor decoders of `baton-server` on arbitrary text: a decoded position must
/// encode to a cursor that decodes to the same position.
pub fn cursor_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(index) = decode_findings(&text) {
        assert_eq!(decode_findings(&encode_findings(index)), Some(index));
    }
    if let Some(at) = decode_tasks(&text) {
        assert_eq!(decode_tasks(&encode_tasks(&at)), Some(at));
        assert_eq!(decode_list(&text), Some(ListPosition::Own(Some(at))));
    }
    if let Some(position) = decode_list(&text) {
        assert_eq!(decode_list(&encode_list(&position)), Some(position));
    }
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::load_json_str(include_str!("../../../bench/catalog/real/tools.json"))
        .expect("bench/catalog/real/tools.json loads")
});

/// `search_tools` queries against the search index of baton-catalog (the real-world catalog
/// of `bench/catalog/real/tools.json`). The first byte picks the limit (`0..=51`, so both
/// invalid limits are tried), the rest is the query.
pub fn search_tools(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let limit = usize::from(first) % (MAX_SEARCH_LIMIT + 2);
    let query = String::from_utf8_lossy(rest);
    match CATALOG.search(&query, limit) {
        Ok(hits) => {
            assert!(
                (1..=MAX_SEARCH_LIMIT).contains(&limit),
                "limit {limit} accepted"
            );
            assert!(hits.len() <= limit, "{} hits for limit {limit}", hits.len());
            let mut names = HashSet::new();
            for pair in hits.windows(2) {
                assert!(pair[0].score >= pair[1].score, "hits not ranked best first");
            }
            for hit in &hits {
                assert!(
                    hit.score.is_finite(),
                    "score {} for {}",
                    hit.score,
                    hit.name()
                );
                assert!(names.insert(hit.name()), "{} found twice", hit.name());
            }
        }
        Err(e) => match e.kind() {
            CatalogErrorKind::InvalidLimit => {
                assert!(
                    !(1..=MAX_SEARCH_LIMIT).contains(&limit),
                    "limit {limit} refused"
                )
            }
            CatalogErrorKind::EmptyQuery => {
                assert!(query.trim().is_empty(), "query {query:?} refused as empty")
            }
            CatalogErrorKind::QueryTooLong => assert!(
                query.chars().count() > MAX_QUERY_CHARS,
                "query of {} characters refused as too long",
                query.chars().count()
            ),
            other => panic!("search failed with {other:?}: {e}"),
        },
    }
}
