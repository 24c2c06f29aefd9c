//! Extracting the text of hostile PDFs must never panic (lopdf failures become notes).
#![no_main]

use std::path::Path;

use fuda_classify::extract::{pdf, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pdf::extract_bytes(data, Path::new("fuzz.pdf"), &Limits::default());
});
