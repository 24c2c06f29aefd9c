//! The `fuda/label <doc-id>` stanza: the document's label travels inside the header.
//!
//! The body is opaque to this module: the label module supplies the signed label record
//! and the rights snapshot, already encoded. The stanza holds no key material. Standard
//! age clients skip stanzas they do not know, so a protected file stays a plain age file
//! for `age -d` and `rage -d`. The header MAC covers this stanza like every other, so
//! nobody without the file key can swap or edit the label or the document id.

use super::header::Stanza;
use super::Error;

/// The stanza tag.
pub const LABEL_TAG: &str = "fuda/label";

/// Largest document id accepted, in bytes (a ULID is 26).
pub const MAX_DOC_ID_LEN: usize = 128;

/// The label stanza: a document id and the caller's opaque label bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelStanza {
    doc_id: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for LabelStanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelStanza")
            .field("doc_id", &self.doc_id)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl LabelStanza {
    /// Makes a label stanza.
    ///
    /// `doc_id` must be 1 to [`MAX_DOC_ID_LEN`] visible ASCII characters (a ULID is).
    pub fn new(doc_id: impl Into<String>, body: Vec<u8>) -> Result<Self, Error> {
        let doc_id = doc_id.into();
        if doc_id.is_empty()
            || doc_id.len() > MAX_DOC_ID_LEN
            || !doc_id.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(Error::InvalidDocId(doc_id));
        }
        Ok(LabelStanza { doc_id, body })
    }

    /// The document id.
    pub fn doc_id(&self) -> &str {
        &self.doc_id
    }

    /// The label bytes, exactly as the caller gave them.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The header stanza for this label.
    pub fn to_stanza(&self) -> Stanza {
        Stanza {
            tag: LABEL_TAG.to_owned(),
            args: vec![self.doc_id.clone()],
            body: self.body.clone(),
        }
    }

    /// Reads a label from a `fuda/label` stanza.
    pub fn from_stanza(stanza: &Stanza) -> Result<Self, Error> {
        if stanza.tag != LABEL_TAG {
            return Err(Error::Header(format!(
                "stanza {:?} is not a {LABEL_TAG} stanza",
                stanza.tag
            )));
        }
        match stanza.args.as_slice() {
            [doc_id] => LabelStanza::new(doc_id.clone(), stanza.body.clone()),
            _ => Err(Error::Header(format!(
                "the {LABEL_TAG} stanza must have exactly one argument, the document id"
            ))),
        }
    }
}
