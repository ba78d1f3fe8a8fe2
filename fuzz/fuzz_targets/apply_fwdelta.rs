#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fwdelta_fuzz::targets::apply_fwdelta::run(data));
