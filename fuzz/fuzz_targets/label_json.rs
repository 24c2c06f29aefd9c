//! The JSON form of a label (canonical JSON, which is what is signed; sidecar indexes and
//! `--json` output carry the same shape) must never panic, and its canonical encoding must
//! be a fixed point: encoding what the encoding decodes to gives the same text, so a
//! signature made over it verifies after any number of round trips.
#![no_main]

use fuda_core::label::canonical;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(label) = canonical::decode(text) else {
        return;
    };
    let once = canonical::encode(&label);
    let again = canonical::decode(&once).expect("the canonical encoding parses back");
    assert_eq!(canonical::encode(&again), once, "canonical encoding is not a fixed point");
    assert_eq!(canonical::signing_input(&again), canonical::signing_input(&label));
});
