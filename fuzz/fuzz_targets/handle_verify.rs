#![no_main]
//! `handle_verify`: see baton_fuzz::handle_verify.

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::handle_verify(data));
