#![no_main]
//! A resume record read from disk never panics the decoder.
use libfuzzer_sys::fuzz_target;
use riffle_storage::ResumeRecord;

fuzz_target!(|data: &[u8]| {
    let _ = ResumeRecord::decode(data);
});
