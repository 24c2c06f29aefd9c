//! The compact binary form of a signed label, used in xattrs, OOXML properties and sidecars.
//!
//! Layout: one version byte (`0xF1`) followed by a [postcard] encoding of the record with
//! raw bytes for the doc id, digest, key id and signature, and a bit set for the flags.
//! A typical label is 150–190 bytes (a JSON record with base64 signature is ~420).
//!
//! Automatic labels append their evidence after the signature as a second postcard value
//! (a list of `(what, count)` pairs); labels without evidence end at the signature, exactly
//! as before the evidence existed.
//!
//! A label written over an earlier one of its document (`seq` > 0) starts with `0xF2`
//! instead, followed by the `seq` as a postcard varint and then the same body; labels with
//! `seq` 0 are written as `0xF1`, byte for byte as before `seq` existed, so older labels
//! keep decoding and older fuda versions keep reading first labels.
//!
//! Decoding is strict: unknown versions, malformed fields and trailing bytes are refused,
//! so a value either round-trips exactly or is reported as corrupt.

use serde::{Deserialize, Serialize};

use super::{DocId, Evidence, Flag, KeyId, Label, Method, PolicyRef, SignedLabel};
use crate::digest::Digest;

/// First byte of every compact label with `seq` 0.
pub const VERSION_BYTE: u8 = 0xF1;

/// First byte of a compact label with `seq` > 0 (the varint `seq` follows).
pub const VERSION_BYTE_SEQ: u8 = 0xF2;

/// Why bytes are not a compact label.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// Nothing to decode.
    #[error("the label value is empty")]
    Empty,
    /// Written by a newer fuda, or not a fuda label at all.
    #[error("unknown label format 0x{0:02x}: written by a newer fuda, or not a fuda label")]
    UnknownVersion(u8),
    /// The bytes do not decode.
    #[error("the label value is corrupt: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    doc: [u8; 16],
    level: &'a str,
    policy_id: &'a str,
    policy_version: u32,
    owner: &'a str,
    dept: Option<&'a str>,
    asset: Option<&'a str>,
    method: u8,
    rule: Option<&'a str>,
    origin: Option<&'a str>,
    set_by: &'a str,
    set_at: i64,
    content: Option<[u8; 32]>,
    justification: Option<&'a str>,
    flags: u8,
    key: [u8; 8],
    sig: ([u8; 32], [u8; 32]),
}

/// The methods by wire value: new ones are appended, never inserted.
const METHODS: [Method; 7] = [
    Method::Manual,
    Method::Auto,
    Method::Default,
    Method::Imported,
    Method::Opened,
    Method::Exported,
    Method::Recovered,
];

/// Encodes a signed label.
pub fn encode(signed: &SignedLabel) -> Vec<u8> {
    let l = &signed.label;
    let mut sig = ([0; 32], [0; 32]);
    sig.0.copy_from_slice(&signed.sig[..32]);
    sig.1.copy_from_slice(&signed.sig[32..]);
    let wire = Wire {
        doc: l.doc.to_bytes(),
        level: &l.level,
        policy_id: &l.policy.id,
        policy_version: l.policy.version,
        owner: &l.owner,
        dept: l.dept.as_deref(),
        asset: l.asset.as_deref(),
        method: METHODS.iter().position(|m| *m == l.method).unwrap_or(0) as u8,
        rule: l.rule.as_deref(),
        origin: l.origin.as_deref(),
        set_by: &l.set_by,
        set_at: l.set_at,
        content: l.content_sha256.map(|d| d.0),
        justification: l.justification.as_deref(),
        flags: l.flags.iter().fold(0u8, |bits, f| bits | flag_bit(*f)),
        key: signed.key.0,
        sig,
    };
    let mut out = if l.seq == 0 {
        vec![VERSION_BYTE]
    } else {
        let mut out = vec![VERSION_BYTE_SEQ];
        out.extend(postcard::to_allocvec(&l.seq).expect("a number always serialises"));
        out
    };
    out.extend(postcard::to_allocvec(&wire).expect("a label always serialises"));
    if !l.evidence.is_empty() {
        let evidence: Vec<(&str, u32)> = l
            .evidence
            .iter()
            .map(|e| (e.what.as_str(), e.count))
            .collect();
        out.extend(postcard::to_allocvec(&evidence).expect("evidence always serialises"));
    }
    out
}

fn flag_bit(flag: Flag) -> u8 {
    1 << Flag::ALL.iter().position(|f| *f == flag).unwrap_or(0)
}

/// Decodes a signed label; every byte must be accounted for.
pub fn decode(bytes: &[u8]) -> Result<SignedLabel, CompactError> {
    let (&version, body) = bytes.split_first().ok_or(CompactError::Empty)?;
    let (seq, body) = match version {
        VERSION_BYTE => (0, body),
        VERSION_BYTE_SEQ => postcard::take_from_bytes::<u64>(body)
            .map_err(|e| CompactError::Malformed(format!("seq: {e}")))?,
        _ => return Err(CompactError::UnknownVersion(version)),
    };
    let (wire, rest): (Wire<'_>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| CompactError::Malformed(e.to_string()))?;
    let evidence = if rest.is_empty() {
        Vec::new()
    } else {
        let (pairs, rest): (Vec<(&str, u32)>, &[u8]) = postcard::take_from_bytes(rest)
            .map_err(|e| CompactError::Malformed(format!("evidence: {e}")))?;
        if !rest.is_empty() {
            return Err(CompactError::Malformed(format!(
                "{} unexpected trailing bytes",
                rest.len()
            )));
        }
        pairs
            .into_iter()
            .map(|(what, count)| Evidence {
                what: what.to_owned(),
                count,
            })
            .collect()
    };
    let method = *METHODS
        .get(usize::from(wire.method))
        .ok_or_else(|| CompactError::Malformed(format!("unknown method {}", wire.method)))?;
    if wire.flags >> Flag::ALL.len() != 0 {
        return Err(CompactError::Malformed(format!(
            "unknown flags 0x{:02x}",
            wire.flags
        )));
    }
    let flags = Flag::ALL
        .into_iter()
        .filter(|f| wire.flags & flag_bit(*f) != 0)
        .collect();
    let mut sig = [0; 64];
    sig[..32].copy_from_slice(&wire.sig.0);
    sig[32..].copy_from_slice(&wire.sig.1);
    let owned = |s: Option<&str>| s.map(str::to_owned);
    let signed = SignedLabel {
        label: Label {
            v: super::LABEL_VERSION,
            doc: DocId::from_bytes(wire.doc),
            level: wire.level.to_owned(),
            policy: PolicyRef {
                id: wire.policy_id.to_owned(),
                version: wire.policy_version,
            },
            owner: wire.owner.to_owned(),
            dept: owned(wire.dept),
            asset: owned(wire.asset),
            method,
            rule: owned(wire.rule),
            origin: owned(wire.origin),
            set_by: wire.set_by.to_owned(),
            set_at: wire.set_at,
            seq,
            content_sha256: wire.content.map(Digest),
            justification: owned(wire.justification),
            flags,
            evidence,
        },
        key: KeyId(wire.key),
        sig,
    };
    // One record, one encoding: refuse anything that does not re-encode to the same bytes
    // (over-long integers, unsorted flags, an empty evidence list, `0xF2` with seq 0), so no
    // two byte strings mean the same label.
    if encode(&signed) != bytes {
        return Err(CompactError::Malformed("not in canonical form".into()));
    }
    Ok(signed)
}
