#![no_main]
//! `cursor_decode`: see baton_fuzz::cursor_decode.

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::cursor_decode(data));
