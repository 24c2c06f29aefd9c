//! Extracting the text of hostile Office documents (docx, xlsx, pptx) must never panic
//! and must stay inside the limits: a zip bomb is refused, not inflated.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use fuda_classify::extract::{ooxml, DocKind, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, package)) = data.split_first() else {
        return;
    };
    let kind = match selector % 3 {
        0 => DocKind::Docx,
        1 => DocKind::Xlsx,
        _ => DocKind::Pptx,
    };
    let limits = Limits {
        max_unpacked: 4 << 20,
        ..Limits::default()
    };
    if let Ok(x) = ooxml::extract_from(Cursor::new(package), Path::new("fuzz.docx"), kind, &limits)
    {
        // Text comes out of the XML only: it cannot be larger than what was unpacked
        // plus the separators added per element.
        assert!(x.text.len() as u64 <= 2 * limits.max_unpacked + 1024);
    }
});
