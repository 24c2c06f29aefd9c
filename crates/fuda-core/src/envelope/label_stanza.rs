//! The `fuda/label <doc-id>` stanza: the document's label travels inside the header.
//!
//! The body is opaque to this module: the label module supplies the signed label record
//! and the rights snapshot, already encoded. The stanza holds no key material. Standard
//! age clients skip stanzas they do not know, so a protected file stays a plain age file
//! for `age -d` and `rage -d`. The header MAC covers this stanza like every other, so
//! nobody without the file key can swap or edit the label or the document id.
//!
//! The document id is a [`DocId`] (a ULID: 26 characters of Crockford base32), checked
//! when the header is parsed: whoever reads a header from a file gets an id that is safe
//! to use in a file name or a URL, never a path such as `../../x` or `/etc/x`.

use super::header::Stanza;
use super::Error;
use crate::label::DocId;

/// The stanza tag.
pub const LABEL_TAG: &str = "fuda/label";

/// The label stanza: a document id and the caller's opaque label bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LabelStanza {
    doc: DocId,
    body: Vec<u8>,
}

impl std::fmt::Debug for LabelStanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelStanza")
            .field("doc_id", &self.doc)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl LabelStanza {
    /// Makes a label stanza for document `doc`.
    pub fn new(doc: DocId, body: Vec<u8>) -> Self {
        LabelStanza { doc, body }
    }

    /// The document id.
    pub fn doc_id(&self) -> DocId {
        self.doc
    }

    /// The label bytes, exactly as the caller gave them.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The header stanza for this label.
    pub fn to_stanza(&self) -> Stanza {
        Stanza {
            tag: LABEL_TAG.to_owned(),
            args: vec![self.doc.to_string()],
            body: self.body.clone(),
        }
    }

    /// Reads a label from a `fuda/label` stanza; its argument must be a document id.
    pub fn from_stanza(stanza: &Stanza) -> Result<Self, Error> {
        if stanza.tag != LABEL_TAG {
            return Err(Error::Header(format!(
                "stanza {:?} is not a {LABEL_TAG} stanza",
                stanza.tag
            )));
        }
        match stanza.args.as_slice() {
            [doc_id] => {
                let doc = doc_id.parse().map_err(|_| {
                    // Quote at most the start of what the file says.
                    Error::InvalidDocId(doc_id.chars().take(64).collect())
                })?;
                Ok(LabelStanza::new(doc, stanza.body.clone()))
            }
            _ => Err(Error::Header(format!(
                "the {LABEL_TAG} stanza must have exactly one argument, the document id"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(arg: &str) -> Stanza {
        Stanza {
            tag: LABEL_TAG.to_owned(),
            args: vec![arg.to_owned()],
            body: b"x".to_vec(),
        }
    }

    #[test]
    fn a_stanza_naming_a_path_instead_of_a_document_is_refused() {
        for arg in [
            "../../victim",
            "/home/tanaka/.ssh/authorized_keys",
            "01HZX0000000000000000000A/",
            "01HZX0000000000000000000A",
            "01HZX0000000000000000000ABC",
            "..",
            "",
        ] {
            assert!(
                matches!(
                    LabelStanza::from_stanza(&stanza(arg)),
                    Err(Error::InvalidDocId(_))
                ),
                "{arg:?} must be refused"
            );
        }
    }

    #[test]
    fn a_document_id_round_trips() {
        let doc: DocId = "01HZX0000000000000000000AB".parse().unwrap();
        let label = LabelStanza::new(doc, b"x".to_vec());
        let back = LabelStanza::from_stanza(&label.to_stanza()).unwrap();
        assert_eq!(back, label);
        assert_eq!(back.doc_id().to_string(), "01HZX0000000000000000000AB");
    }
}
