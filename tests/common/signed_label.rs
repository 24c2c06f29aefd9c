//! A signed fuda label for a `fuda/label` stanza, made without the CLI: the key service
//! registers a document only with the signed label its header carries (shared by the
//! contract tests of `fuda-keyd` and the key service benchmark).
#![allow(dead_code)]

use fuda_core::identity::Identity;
use fuda_core::label::{compact, DocId, Label, Method, PolicyRef, LABEL_VERSION};

/// A throwaway signer (its key directory lives as long as the returned guard).
pub fn signer(name: &str) -> (tempfile::TempDir, Identity) {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::create(dir.path(), name).unwrap();
    (dir, identity)
}

/// The compact label `signer` signs for document `doc` (a ULID) at `level`.
pub fn body(signer: &Identity, doc: &str, level: &str) -> Vec<u8> {
    let doc: DocId = doc.parse().expect("a ULID document id");
    compact::encode(&signer.sign(Label {
        v: LABEL_VERSION,
        doc,
        level: level.into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: signer.name().into(),
        dept: None,
        asset: None,
        method: Method::Manual,
        rule: None,
        origin: None,
        set_by: signer.name().into(),
        set_at: 0,
        seq: 0,
        content_sha256: None,
        justification: None,
        flags: Vec::new(),
        evidence: Vec::new(),
    }))
}
