//! End-to-end: protected files through the `fuda` binary without a key service —
//! `fuda inspect` reads the label without any key, `fuda recover` is the break-glass path.

mod common;

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use common::{p, write, User};
use fuda_core::envelope::{self, x25519, LabelStanza, StreamOptions};
use fuda_core::identity::Identity;
use fuda_core::label::{compact, DocId, Label, Method, PolicyRef};

struct Protected {
    file: PathBuf,
    recovery_key: PathBuf,
    doc: DocId,
    plaintext: Vec<u8>,
}

/// Protects `name` (as the key service will): encrypted to a service key and the recovery
/// key, with the owner's signed label in the header.
fn protect(owner: &User, dir: &Path, name: &str, level: &str) -> Protected {
    let identity = Identity::load(&owner.home.path().join(".config/fuda"), &owner.name).unwrap();
    let plaintext: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let source = dir.join(name);
    write(&source, &plaintext);
    let doc = DocId::new();
    let signed = identity.sign(Label {
        v: 1,
        doc,
        level: level.into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: owner.name.clone(),
        dept: Some("設計部".into()),
        asset: None,
        method: Method::Manual,
        rule: None,
        origin: None,
        set_by: owner.name.clone(),
        set_at: fuda_core::labeling::now(),
        seq: 0,
        content_sha256: None,
        justification: None,
        flags: vec![],
        evidence: vec![],
    });
    let stanza = LabelStanza::new(doc, compact::encode(&signed));
    let service = x25519::Identity::generate();
    let recovery = x25519::Identity::generate();
    let recovery_key = dir.join("recovery.key");
    std::fs::write(
        &recovery_key,
        format!("{}\n", recovery.to_string().expose_secret()),
    )
    .unwrap();
    let file = envelope::protected_path(&source);
    envelope::encrypt_to_path(
        &source,
        &[service.to_public(), recovery.to_public()],
        Some(&stanza),
        &file,
        false,
        &StreamOptions::default(),
    )
    .unwrap();
    std::fs::remove_file(&source).unwrap();
    Protected {
        file,
        recovery_key,
        doc,
        plaintext,
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect()
}

#[test]
fn the_recovery_identity_decrypts_a_protected_file() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = protect(&tanaka, dir.path(), "bracket.dwg", "strictly-confidential");

    let run = tanaka
        .fuda(&["recover", p(&f.file), "--identity", p(&f.recovery_key)])
        .expect(0);
    let out = dir.path().join("bracket.dwg");
    assert!(run.stdout.contains("bracket.dwg"), "{}", run.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), f.plaintext);

    // An existing output is never overwritten silently.
    std::fs::write(&out, b"keep me").unwrap();
    let run = tanaka
        .fuda(&["recover", p(&f.file), "--identity", p(&f.recovery_key)])
        .expect(2);
    assert!(run.stderr.contains("bracket.dwg"), "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    tanaka
        .fuda(&[
            "recover",
            p(&f.file),
            "--identity",
            p(&f.recovery_key),
            "--force",
        ])
        .expect(0);
    assert_eq!(std::fs::read(&out).unwrap(), f.plaintext);

    let log = std::fs::read_to_string(
        tanaka
            .home
            .path()
            .join(".local/state/fuda/label-changes.jsonl"),
    )
    .unwrap();
    assert!(
        log.contains("\"action\":\"recover\"") && log.contains(&f.doc.to_string()),
        "{log}"
    );
}

#[test]
fn a_wrong_key_or_a_damaged_file_leaves_no_plaintext_behind() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = protect(&tanaka, dir.path(), "plan.xlsx", "confidential");
    let out = dir.path().join("out.xlsx");

    let wrong = dir.path().join("wrong.key");
    std::fs::write(
        &wrong,
        format!(
            "{}\n",
            x25519::Identity::generate().to_string().expose_secret()
        ),
    )
    .unwrap();
    let run = tanaka
        .fuda(&[
            "recover",
            p(&f.file),
            "--identity",
            p(&wrong),
            "--out",
            p(&out),
        ])
        .expect(2);
    assert!(run.stderr.contains("plan.xlsx.fuda"), "{}", run.stderr);
    assert!(!out.exists());

    // Truncate the payload: authentication fails at the end, nothing is left at --out.
    let bytes = std::fs::read(&f.file).unwrap();
    let cut = dir.path().join("cut.fuda");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let run = tanaka
        .fuda(&[
            "recover",
            p(&cut),
            "--identity",
            p(&f.recovery_key),
            "--out",
            p(&out),
        ])
        .expect(2);
    assert!(run.stderr.contains("cut.fuda"), "{}", run.stderr);
    assert!(!out.exists());
    assert!(
        temp_files(dir.path()).is_empty(),
        "{:?}",
        temp_files(dir.path())
    );
}

#[test]
fn inspect_and_label_show_read_the_label_without_any_key() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = protect(&tanaka, dir.path(), "spec.pdf", "strictly-confidential");

    let run = tanaka.fuda(&["inspect", "--json", p(&f.file)]).expect(0);
    let v = &run.json_lines()[0];
    assert_eq!(v["status"], "valid");
    assert_eq!(v["label"]["doc_id"], f.doc.to_string());
    assert_eq!(v["label"]["record"]["level"], "strictly-confidential");
    let tags: Vec<&str> = v["stanzas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["X25519", "X25519", "fuda/label"]);

    let shown = tanaka.show(&f.file);
    assert_eq!(shown["store"], "envelope");
    assert_eq!(shown["status"], "valid");
    assert_eq!(shown["doc"], f.doc.to_string());

    // Someone else's fuda does not know tanaka's key.
    let sato = User::init("sato");
    assert_eq!(sato.show(&f.file)["status"], "unverified");

    // The label of a protected file only changes through the key service, which refuses
    // a file it never registered; the file stays as it was.
    let before = std::fs::read(&f.file).unwrap();
    let run = tanaka
        .fuda(&["label", "set", "公開", p(&f.file), "--justify", "x"])
        .expect(2);
    assert!(
        run.stderr.contains("cannot change the level") && run.stderr.contains("spec.pdf.fuda"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&f.file).unwrap(), before);

    // A file that is not an age file is a clear error.
    let junk = dir.path().join("junk.fuda");
    write(&junk, "not age at all");
    let run = tanaka.fuda(&["inspect", p(&junk)]).expect(2);
    assert!(run.stderr.contains("junk.fuda"), "{}", run.stderr);
}

#[test]
fn a_file_protected_by_fuda_protect_shows_its_label_from_the_header() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let drawing = dir.path().join("assy.dwg");
    write(&drawing, "assembly drawing");
    tanaka
        .fuda(&["protect", "--level", "秘", p(&drawing)])
        .expect(0);
    let protected = envelope::protected_path(&drawing);
    assert!(
        !drawing.exists(),
        "the original is removed once the protected copy is verified"
    );

    let shown = tanaka.show(&protected);
    assert_eq!(
        (shown["store"].as_str(), shown["status"].as_str()),
        (Some("envelope"), Some("valid"))
    );
    assert_eq!(shown["level"], "confidential");
    let run = tanaka.fuda(&["inspect", "--json", p(&protected)]).expect(0);
    assert_eq!(run.json_lines()[0]["status"], "valid");
    tanaka.fuda(&["label", "check", p(&protected)]).expect(0);
}
