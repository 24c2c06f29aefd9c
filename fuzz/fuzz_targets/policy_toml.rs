//! Policy loading must never panic on hostile input, and every problem it reports must
//! point inside the file.
#![no_main]

use std::path::Path;

use fuda_core::policy::{Policy, PolicyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(PolicyError::Invalid { problems, .. }) = Policy::from_toml(text, Path::new("fuzz.toml")) {
        let lines = text.lines().count().max(1) + 1;
        for p in problems {
            assert!(p.line >= 1 && p.line <= lines, "line {} outside the file", p.line);
        }
    }
});
