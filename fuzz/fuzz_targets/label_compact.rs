//! The compact label decoder (xattr values, OOXML `fuda.label`, sidecars, envelope
//! stanzas) must never panic, and whatever it accepts must re-encode to the same bytes.
#![no_main]

use fuda_core::label::compact;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = compact::decode(data) {
        assert_eq!(compact::encode(&signed), data, "accepted a non-canonical encoding");
        // The canonical JSON of anything decodable must be printable and parse back.
        let text = fuda_core::label::canonical::encode(&signed.label);
        assert!(fuda_core::label::canonical::decode(&text).is_ok());
    }
});
