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
    // Strings are normalised before escaping: normalising the JSON text instead could
    // compose an escape's letter with a following combining mark (`\n` + U+0300).
    let value = match needs_nfc(label) {
        false => serde_json::to_value(label),
        true => serde_json::to_value(nfc_label(label)),
    };
    value.expect("a label always serialises").to_string()
}

fn is_nfc(s: &str) -> bool {
    matches!(is_nfc_quick(s.chars()), IsNormalized::Yes)
}

fn needs_nfc(l: &Label) -> bool {
    let optional = [&l.dept, &l.asset, &l.rule, &l.origin, &l.justification];
    ![&l.level, &l.policy.id, &l.owner, &l.set_by]
        .iter()
        .all(|s| is_nfc(s))
        || !optional.iter().all(|s| s.as_deref().is_none_or(is_nfc))
}

fn nfc_label(l: &Label) -> Label {
    let nfc = |s: &String| s.nfc().collect::<String>();
    let nfc_opt = |s: &Option<String>| s.as_ref().map(nfc);
    let mut out = l.clone();
    out.level = nfc(&l.level);
    out.policy.id = nfc(&l.policy.id);
    out.owner = nfc(&l.owner);
    out.set_by = nfc(&l.set_by);
    out.dept = nfc_opt(&l.dept);
    out.asset = nfc_opt(&l.asset);
    out.rule = nfc_opt(&l.rule);
    out.origin = nfc_opt(&l.origin);
    out.justification = nfc_opt(&l.justification);
    out
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
