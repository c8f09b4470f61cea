#![no_main]
//! `http_jsonrpc`: any request through baton's in-process HTTP app (see baton_fuzz::HttpApp).

use std::sync::LazyLock;

static APP: LazyLock<baton_fuzz::HttpApp> = LazyLock::new(baton_fuzz::HttpApp::new);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    APP.request(data);
});
