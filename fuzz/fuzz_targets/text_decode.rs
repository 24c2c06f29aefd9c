//! Plain-text decoding (BOM, UTF-8, CP932, EUC-JP detection) must never panic, and must
//! agree with the obvious answers: valid UTF-8 without a BOM decodes to itself, and a
//! clean (non-lossy) CP932 or EUC-JP result re-encodes to the input bytes.
#![no_main]

use fuda_classify::extract::{decode, decode_owned};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let borrowed = decode(data);
    let owned = decode_owned(data.to_vec());
    assert_eq!(borrowed.text, owned.text, "decode and decode_owned disagree");
    assert_eq!(borrowed.encoding, owned.encoding);
    assert_eq!(borrowed.lossy, owned.lossy);
    let bom = data.starts_with(&[0xEF, 0xBB, 0xBF])
        || data.starts_with(&[0xFF, 0xFE])
        || data.starts_with(&[0xFE, 0xFF]);
    if !bom {
        if let Ok(s) = std::str::from_utf8(data) {
            assert_eq!(borrowed.text, s, "valid UTF-8 must decode to itself");
        }
    }
    if !borrowed.lossy && !bom {
        let enc = encoding_rs::Encoding::for_label(borrowed.encoding.as_bytes())
            .expect("a known encoding");
        if enc == encoding_rs::SHIFT_JIS || enc == encoding_rs::EUC_JP {
            let (decoded, had_errors) = enc.decode_without_bom_handling(data);
            assert!(!had_errors, "a clean result whose bytes do not decode cleanly");
            assert_eq!(decoded, borrowed.text);
        }
    }
});
