//! Labels of protected files: the `fuda/label` stanza in the age header.
//!
//! The stanza body is the compact signed label (see [`crate::label::compact`]), either
//! bare or, as `fuda protect` writes it, inside a small JSON object that also carries the
//! rights snapshot for offline display: `{"v":1,"label":"<base64 compact>","rights":{…},
//! "service":"…"}`. It is readable without any key; the header MAC, keyed from the file key, binds it to the
//! payload, so the label carries no content digest and is never `stale`. Changing the label
//! of a protected file needs the file key, which only the key service hands out: this
//! store reads, and refuses to write.

use std::io::BufReader;
use std::path::Path;

use super::{decode_stored, LabelStore, StoreError, StoreKind, Stored, WriteContext};
use crate::digest::Digest;
use crate::envelope::Header;
use crate::label::SignedLabel;
use crate::policy::Policy;

/// The envelope label store (read-only).
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvelopeStore;

/// Whether `path` names a protected file (`*.fuda`).
pub fn is_protected(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(crate::envelope::EXTENSION))
}

/// Encodes the label stanza body `fuda protect` writes: the compact signed label with the
/// rights snapshot (principal → rights) and the key service's id, for offline display.
pub fn encode_body(
    compact: &[u8],
    rights: &std::collections::BTreeMap<String, String>,
    service: &str,
) -> Vec<u8> {
    use base64::Engine;
    serde_json::json!({
        "v": 1,
        "label": base64::engine::general_purpose::STANDARD.encode(compact),
        "rights": rights,
        "service": service,
    })
    .to_string()
    .into_bytes()
}

/// Decodes a label stanza body: a bare compact label, or the JSON wrapper `fuda protect`
/// writes around it.
pub fn decode_body(body: &[u8]) -> Stored {
    if body.first() != Some(&b'{') {
        return decode_stored(body);
    }
    #[derive(serde::Deserialize)]
    struct Wrapper {
        v: u8,
        label: String,
    }
    use base64::Engine;
    match serde_json::from_slice::<Wrapper>(body) {
        Ok(w) if w.v == 1 => match base64::engine::general_purpose::STANDARD.decode(&w.label) {
            Ok(bytes) => decode_stored(&bytes),
            Err(e) => Stored::Corrupt(format!("the label in the header is not base64: {e}")),
        },
        Ok(w) => Stored::Corrupt(format!("unknown label stanza version {}", w.v)),
        Err(e) => Stored::Corrupt(format!("the label stanza is not valid: {e}")),
    }
}

impl LabelStore for EnvelopeStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Envelope
    }

    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let file = crate::fsutil::open_quietly(path).map_err(|e| StoreError::io(path, e))?;
        let header = match Header::parse(&mut BufReader::new(file)) {
            Ok(h) => h,
            Err(e) => {
                return Ok(Some(Stored::Corrupt(format!(
                    "the envelope header is unreadable: {e}"
                ))))
            }
        };
        let Some(stanza) = header.label() else {
            return Ok(None);
        };
        Ok(Some(match decode_body(stanza.body()) {
            // The stanza's doc id is what the key service looks up: it must be the label's.
            Stored::Signed(signed) if signed.label.doc != stanza.doc_id() => {
                Stored::Corrupt(format!(
                    "the header names document {} but its label is for {}",
                    stanza.doc_id(),
                    signed.label.doc
                ))
            }
            other => other,
        }))
    }

    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }

    fn write(
        &self,
        path: &Path,
        _ctx: WriteContext<'_>,
        _sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }

    fn remove(&self, path: &Path, _policy: &Policy) -> Result<bool, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }
}
