//! Reading labels and digests from hostile Office documents must never panic.
#![no_main]

use fuda_core::store::ooxml::OoxmlStore;
use fuda_core::store::LabelStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("fuda-fuzz-ooxml-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.docx");
    if std::fs::write(&path, data).is_ok() {
        let _ = OoxmlStore.read(&path);
        let _ = OoxmlStore.content_digest(&path);
    }
});
