//! What a protected file's header says, checked on the caller's thread (outside the
//! writer): which document it names, whether this service's keys open it (through the
//! file-key cache), and the signed label it carries.

use fuda_core::envelope::{FileKey, Header};
use fuda_core::label::SignedLabel;
use fuda_core::store::Stored;

use crate::cache::{self, Cache, Digest};
use crate::error::{Denial, DenyCode};
use crate::keys::ServiceKeys;

/// What the header says, checked outside the writer.
pub(super) struct HeaderCheck {
    /// The document id in the label stanza, if any.
    pub(super) doc: Option<String>,
    /// SHA-256 of the header bytes (all zero when they do not parse).
    pub(super) digest: Digest,
    /// The file key and the key version that opened it, or why not.
    pub(super) outcome: Result<(FileKey, u32), Denial>,
}

/// Parses `bytes` as a fuda file header and unwraps its file key with the service's keys
/// (or takes it from `cache`, keyed by the SHA-256 of the header bytes).
pub(super) fn check_header(
    keys: &ServiceKeys,
    cache: &Cache<(FileKey, u32)>,
    bytes: &[u8],
) -> HeaderCheck {
    let bad = |message: String| Denial {
        code: DenyCode::BadHeader,
        message,
    };
    let (header, len) = match Header::parse_bytes(bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            return HeaderCheck {
                doc: None,
                digest: [0; 32],
                outcome: Err(bad(format!(
                    "the request does not carry a valid fuda file header: {e}"
                ))),
            }
        }
    };
    let doc = header.label().map(|l| l.doc_id().to_string());
    let digest = cache::digest(&[&bytes[..len]]);
    if doc.is_none() {
        return HeaderCheck {
            doc,
            digest,
            outcome: Err(bad(
                "the file has no fuda/label stanza: it was not protected with fuda".into(),
            )),
        };
    }
    if let Some(hit) = cache.get(&digest) {
        return HeaderCheck {
            doc,
            digest,
            outcome: Ok(hit),
        };
    }
    let outcome = keys.unwrap(&header).map_err(|e| match e {
        fuda_core::envelope::Error::HeaderMac => bad(
            "the file's header was modified or comes from another file (its MAC does not match): ask the owner for an intact copy".into(),
        ),
        _ => bad(
            "this file was not protected for this key service (none of its keys opens it). If it was protected before its owner joined this service (with the personal key service of their machine), the owner registers it here with `fuda rewrap --to-service FILE`; otherwise ask the owner to protect it again, or use the recovery key".into(),
        ),
    });
    if let Ok(unwrapped) = &outcome {
        cache.insert(digest, unwrapped);
    }
    HeaderCheck {
        doc,
        digest,
        outcome,
    }
}

/// The signed label in a header's `fuda/label` stanza (checked outside the writer).
pub(super) fn signed_label(header: &[u8]) -> Result<SignedLabel, String> {
    let (header, _) = Header::parse_bytes(header)
        .map_err(|e| format!("the request does not carry a valid fuda file header: {e}"))?;
    let stanza = header
        .label()
        .ok_or("the file has no fuda/label stanza: it was not protected with fuda")?;
    match fuda_core::store::envelope::decode_body(stanza.body()) {
        Stored::Signed(signed) if signed.label.doc == stanza.doc_id() => Ok(*signed),
        Stored::Signed(signed) => Err(format!(
            "the header names document {} but its label is for {}",
            stanza.doc_id(),
            signed.label.doc
        )),
        Stored::Corrupt(why) => Err(format!("the file's label is not readable: {why}")),
        Stored::Foreign(_) => Err("the file's label is not a fuda label".into()),
    }
}

/// What the registry keeps to bind a document id to one file key: a SHA-256 of the key
/// under its own label (the key itself is never stored).
pub(super) fn key_check(key: &FileKey) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"fuda-keyd/key-check/v1");
    ctx.update(key.expose());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
