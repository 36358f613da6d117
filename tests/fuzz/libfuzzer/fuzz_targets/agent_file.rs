#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coworker_fuzz::agent_file(data));
