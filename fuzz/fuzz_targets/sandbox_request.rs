#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fwdelta_fuzz::targets::sandbox_request::run(data));
