//! The header parser on arbitrary bytes: never panics, and whatever parses writes back
//! to exactly the bytes it was parsed from.
#![no_main]

use fuda_core::envelope::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, len)) = Header::parse_bytes(data) {
        assert_eq!(header.to_bytes(), &data[..len]);
        let _ = header.label();
        let _ = header.summary();
    }
});
