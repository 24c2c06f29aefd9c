//! The canonical encoding of a label: the exact bytes that are signed.
//!
//! JSON with object keys sorted, no insignificant whitespace, every string in Unicode NFC.
//! The signing input prefixes a domain-separation tag so that a label signature can never
//! be mistaken for a signature over anything else.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use super::Label;

/// Prefix of every signing input.
pub const SIGNING_CONTEXT: &[u8] = b"fuda-label-v1\n";

/// The canonical JSON text of a label.
pub fn encode(label: &Label) -> String {
    // `serde_json::Value` keeps object keys in a BTreeMap, so printing a Value sorts them.
    let value = serde_json::to_value(label).expect("a label always serialises");
    let text = value.to_string();
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text,
        _ => text.nfc().collect(),
    }
}

/// The bytes an Ed25519 signature covers.
pub fn signing_input(label: &Label) -> Vec<u8> {
    let text = encode(label);
    let mut input = Vec::with_capacity(SIGNING_CONTEXT.len() + text.len());
    input.extend_from_slice(SIGNING_CONTEXT);
    input.extend_from_slice(text.as_bytes());
    input
}

/// Parses canonical (or any) JSON back into a label.
pub fn decode(text: &str) -> Result<Label, serde_json::Error> {
    serde_json::from_str(text)
}
