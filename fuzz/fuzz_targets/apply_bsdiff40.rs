#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fwdelta_fuzz::targets::apply_bsdiff40::run(data));
