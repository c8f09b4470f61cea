//! Replays every committed file of `fuzz/corpus/<target>/` through its target function, on
//! stable, in the normal test suite: the seeds, and the regression seed of every crash found.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::fs;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// Every target has a corpus directory, and every corpus directory a target.
#[test]
fn every_target_has_a_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut found: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut targets = baton_fuzz::TARGETS.map(String::from).to_vec();
    targets.sort();
    assert_eq!(found, targets);
}

#[test]
fn handle_verify_corpus() {
    let files = corpus("handle_verify");
    for (_, data) in &files {
        baton_fuzz::handle_verify(data);
    }
    // The seeds reach past the tag check: some are valid handles of each kind.
    for codec in baton_fuzz::handle_codecs() {
        let valid = files.iter().filter(|(_, data)| {
            let text = String::from_utf8_lossy(data);
            codec
                .verify(&text, baton_fuzz::HANDLE_PRINCIPAL, baton_fuzz::HANDLE_NOW)
                .is_ok()
        });
        assert!(
            valid.count() > 0,
            "no valid {} handle among the seeds",
            codec.kind()
        );
    }
}

#[test]
fn cursor_decode_corpus() {
    for (_, data) in corpus("cursor_decode") {
        baton_fuzz::cursor_decode(&data);
    }
}

#[test]
fn search_tools_corpus() {
    for (_, data) in corpus("search_tools") {
        baton_fuzz::search_tools(&data);
    }
}

#[test]
fn http_jsonrpc_corpus() {
    let app = baton_fuzz::HttpApp::new();
    let mut answered = Vec::new();
    for (name, data) in corpus("http_jsonrpc") {
        answered.push((name, app.request(&data).as_u16()));
    }
    // The seeds get through the HTTP layers to the MCP handler: valid requests succeed.
    for seed in ["discover", "tools-list", "start"] {
        let status = answered
            .iter()
            .find(|(name, _)| name == seed)
            .map(|(_, s)| *s);
        assert_eq!(status, Some(200), "seed {seed}: {answered:?}");
    }
}

/// Writes valid handles of both kinds, minted with the target's fixed keys, into the
/// `handle_verify` corpus: `cargo test -p baton-fuzz -- --ignored mint_handle_seeds`.
#[test]
#[ignore = "writes seed files; run by hand"]
fn mint_handle_seeds() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/handle_verify");
    for codec in baton_fuzz::handle_codecs() {
        let id = baton_handle::Id::from_bytes([0x42; 16]);
        for (label, not_after) in [("valid", 4_000_000_000), ("expired", 1_700_000_000)] {
            let text = codec.render(&id, baton_fuzz::HANDLE_PRINCIPAL, not_after);
            fs::write(dir.join(format!("{label}-{}", codec.kind())), text).unwrap();
        }
    }
}
