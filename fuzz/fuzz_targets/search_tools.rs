#![no_main]
//! `search_tools`: see baton_fuzz::search_tools.

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::search_tools(data));
