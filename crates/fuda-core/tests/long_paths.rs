//! A file deeper than the 4,096 bytes the kernel takes in one path is labeled, checked and
//! unlabeled like any other, in extended attributes and in the sidecar index.

use std::path::{Path, PathBuf};

use fuda_core::identity::Identity;
use fuda_core::label::{Method, Status};
use fuda_core::labeling::{Labeler, SetOutcome, SetRequest, StorePreference};
use fuda_core::longpath;
use fuda_core::policy::Policy;
use fuda_core::store::StoreKind;
use fuda_core::trust::{SignerKind, TrustStore};

/// A file below `base` whose path is over 4,096 bytes, holding `text`.
fn deep_file(base: &Path, text: &str) -> PathBuf {
    let mut dir = base.to_owned();
    while dir.as_os_str().len() <= longpath::PATH_MAX {
        dir.push("設計".repeat(30));
        std::fs::create_dir(&*longpath::reach(&dir).unwrap()).unwrap();
    }
    let file = dir.join("図面.txt");
    std::fs::write(&*longpath::reach(&file).unwrap(), text).unwrap();
    file
}

fn label_a_deep_file(preference: StorePreference, store: StoreKind) {
    let home = tempfile::tempdir().unwrap();
    let identity = Identity::create(home.path(), "tanaka").unwrap();
    let mut trust = TrustStore::default();
    trust.add(identity.as_signer(SignerKind::User));
    let policy = Policy::builtin("default").unwrap();
    let labeler = Labeler {
        policy: &policy,
        identity: &identity,
        trust: &trust,
        dept: None,
        preference,
        memo: None,
        digests: None,
    };
    let share = tempfile::tempdir().unwrap();
    let file = deep_file(share.path(), "設計図面");
    assert!(longpath::is_long(&file));

    let request = SetRequest {
        level: policy.level("confidential").unwrap(),
        method: Method::Manual,
        asset: None,
        owner: None,
        justification: None,
        rule: None,
        flags: Vec::new(),
        evidence: Vec::new(),
        content_sha256: None,
        newest: None,
    };
    let outcome = labeler.set(&file, &request).unwrap();
    assert!(matches!(outcome, SetOutcome::Applied { store: s, .. } if s == store));
    let seen = labeler.inspect(&file).unwrap();
    assert_eq!(seen.status, Status::Valid);
    assert_eq!(seen.store, Some(store));
    assert_eq!(seen.label.unwrap().level, "confidential");

    // Changing the content makes the label stale; removing it leaves none.
    std::fs::write(&*longpath::reach(&file).unwrap(), "設計図面 改訂").unwrap();
    assert_eq!(labeler.inspect(&file).unwrap().status, Status::Stale);
    labeler.remove(&file, "test").unwrap();
    assert_eq!(labeler.inspect(&file).unwrap().status, Status::Missing);
}

#[test]
fn a_file_past_4096_bytes_is_labeled_in_its_extended_attributes() {
    label_a_deep_file(StorePreference::Xattr, StoreKind::Xattr);
}

#[test]
fn a_file_past_4096_bytes_is_labeled_in_its_folders_sidecar_index() {
    label_a_deep_file(StorePreference::Sidecar, StoreKind::Sidecar);
}
