//! End-to-end: staff label files with the `fuda` binary and check them.

mod common;

use common::{p, write, User};
use fuda_core::label::compact;

const LABEL_ATTR: &str = "user.fuda.label";

#[test]
fn a_labeled_file_shows_and_checks_as_valid() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let drawing = dir.path().join("設計図").join("bracket.dwg");
    write(&drawing, b"DWG data");

    tanaka
        .fuda(&["label", "set", "極秘", p(&drawing)])
        .expect(0);

    let shown = tanaka.show(&drawing);
    assert_eq!(shown["status"], "valid");
    assert_eq!(shown["store"], "xattr");
    assert_eq!(shown["level"], "strictly-confidential");
    assert_eq!(shown["level_name"]["ja"], "極秘");
    assert_eq!(shown["owner"], "tanaka");
    assert_eq!(shown["dept"], "設計部");
    assert_eq!(shown["method"], "manual");
    assert_eq!(
        shown["asset"], "customer-drawings",
        "the policy's drawing asset matches *.dwg"
    );
    assert_eq!(shown["doc"].as_str().unwrap().len(), 26, "a ULID doc id");
    let check = tanaka.fuda(&["label", "check", p(&drawing)]).expect(0);
    assert!(check.stdout.contains("1 valid"), "{}", check.stdout);

    // The level name shows up in desktop file managers.
    let tags = xattr::get(&drawing, "user.xdg.tags").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(tags).unwrap(),
        "極秘,Strictly confidential",
        "Japanese first"
    );
}

#[test]
fn levels_are_accepted_by_id_japanese_and_english_name_and_alias() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("memo.txt");
    write(&f, "memo");
    for (name, id) in [
        ("公開", "public"),
        ("internal", "internal"),
        ("関係者外秘", "confidential"),
        ("Strictly confidential", "strictly-confidential"),
        ("strictly-confidential", "strictly-confidential"),
    ] {
        tanaka
            .fuda(&["label", "set", name, p(&f), "--justify", "test"])
            .expect(0);
        assert_eq!(tanaka.show(&f)["level"], id, "{name}");
    }
    let bad = tanaka
        .fuda(&["label", "set", "secret-ish", p(&f)])
        .expect(2);
    assert!(
        bad.stderr.contains("unknown level") && bad.stderr.contains("極秘"),
        "{}",
        bad.stderr
    );
}

#[test]
fn editing_the_content_makes_the_label_stale() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("spec.txt");
    write(&f, "torque 25 Nm");
    tanaka.fuda(&["label", "set", "秘", p(&f)]).expect(0);

    write(&f, "torque 30 Nm");
    let run = tanaka.fuda(&["label", "check", "--json", p(&f)]).expect(1);
    assert_eq!(run.json_lines()[0]["status"], "stale");

    // Re-labeling is the re-review: the doc id stays, the label is valid again.
    let doc = tanaka.show(&f)["doc"].clone();
    tanaka.fuda(&["label", "set", "秘", p(&f)]).expect(0);
    let shown = tanaka.show(&f);
    assert_eq!(shown["status"], "valid");
    assert_eq!(shown["doc"], doc);
}

#[test]
fn a_hand_edited_label_is_tampered() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("plan.txt");
    write(&f, "new model plan");
    tanaka.fuda(&["label", "set", "極秘", p(&f)]).expect(0);

    // Someone lowers 極秘 to 公開 by rewriting the xattr, keeping the signature.
    let value = xattr::get(&f, LABEL_ATTR).unwrap().unwrap();
    let mut signed = compact::decode(&value).unwrap();
    signed.label.level = "public".into();
    xattr::set(&f, LABEL_ATTR, &compact::encode(&signed)).unwrap();

    let run = tanaka.fuda(&["label", "check", "--json", p(&f)]).expect(1);
    let row = &run.json_lines()[0];
    assert_eq!(row["status"], "tampered");
    assert_eq!(row["level"], "public");

    // Garbage in the attribute is tampered too, with the reason.
    xattr::set(&f, LABEL_ATTR, b"\xf1garbage").unwrap();
    let run = tanaka.fuda(&["label", "check", p(&f)]).expect(1);
    assert!(
        run.stdout.contains("tampered (the label value is corrupt"),
        "{}",
        run.stdout
    );

    // Replacing a tampered label needs a reason: its true level is unknown.
    let run = tanaka.fuda(&["label", "set", "公開", p(&f)]).expect(2);
    assert!(run.stderr.contains("--justify"), "{}", run.stderr);
    tanaka
        .fuda(&[
            "label",
            "set",
            "極秘",
            p(&f),
            "--justify",
            "restored after incident 42",
        ])
        .expect(0);
    assert_eq!(tanaka.show(&f)["status"], "valid");
}

#[test]
fn a_label_from_an_unknown_key_is_unverified_until_trusted() {
    let tanaka = User::init("tanaka");
    let sato = User::init("sato");
    let dir = common::workdir();
    let f = dir.path().join("quote.txt");
    write(&f, "price list");
    sato.fuda(&["label", "set", "社外秘", p(&f)]).expect(0);

    let run = tanaka.fuda(&["label", "check", "--json", p(&f)]).expect(1);
    let row = &run.json_lines()[0];
    assert_eq!(row["status"], "unverified");
    assert_eq!(row["set_by"], "sato");

    tanaka
        .fuda(&["trust", "add", "sato", &sato.public_key()])
        .expect(0);
    tanaka.fuda(&["label", "check", p(&f)]).expect(0);

    tanaka.fuda(&["trust", "remove", "sato"]).expect(0);
    tanaka.fuda(&["label", "check", p(&f)]).expect(1);
}

#[test]
fn lowering_a_label_needs_a_justification_and_is_logged() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("price.txt");
    write(&f, "price");
    tanaka.fuda(&["label", "set", "秘", p(&f)]).expect(0);
    let before = xattr::get(&f, LABEL_ATTR).unwrap();

    let run = tanaka.fuda(&["label", "set", "公開", p(&f)]).expect(2);
    assert!(
        run.stderr.contains("price.txt") && run.stderr.contains("--justify"),
        "{}",
        run.stderr
    );
    assert_eq!(
        xattr::get(&f, LABEL_ATTR).unwrap(),
        before,
        "a refused downgrade changes nothing"
    );

    // Raising needs no reason.
    tanaka.fuda(&["label", "set", "極秘", p(&f)]).expect(0);
    tanaka
        .fuda(&[
            "label",
            "set",
            "公開",
            p(&f),
            "--justify",
            "published in the 2026 catalogue",
        ])
        .expect(0);
    let shown = tanaka.show(&f);
    assert_eq!(shown["level"], "public");
    assert_eq!(shown["justification"], "published in the 2026 catalogue");

    let log = std::fs::read_to_string(
        tanaka
            .home
            .path()
            .join(".local/state/fuda/label-changes.jsonl"),
    )
    .unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["action"], "downgrade");
    assert_eq!(entry["from"], "strictly-confidential");
    assert_eq!(entry["to"], "public");
    assert_eq!(entry["justification"], "published in the 2026 catalogue");
}

#[test]
fn removing_a_label_needs_a_justification_and_keeps_other_tags() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("notes.txt");
    write(&f, "notes");
    xattr::set(&f, "user.xdg.tags", b"project-x").unwrap();
    tanaka.fuda(&["label", "set", "社外秘", p(&f)]).expect(0);
    assert_eq!(
        xattr::get(&f, "user.xdg.tags").unwrap().unwrap(),
        "project-x,社外秘,Internal".as_bytes()
    );

    tanaka.fuda(&["label", "remove", p(&f)]).expect(2);
    tanaka
        .fuda(&["label", "remove", p(&f), "--justify", "  "])
        .expect(2);
    assert_eq!(tanaka.show(&f)["status"], "valid");

    tanaka
        .fuda(&[
            "label",
            "remove",
            p(&f),
            "--justify",
            "duplicate of the public notes",
        ])
        .expect(0);
    assert_eq!(tanaka.show(&f)["status"], "missing");
    assert_eq!(
        xattr::get(&f, "user.xdg.tags").unwrap().unwrap(),
        b"project-x"
    );
    let log = std::fs::read_to_string(
        tanaka
            .home
            .path()
            .join(".local/state/fuda/label-changes.jsonl"),
    )
    .unwrap();
    assert!(log.contains("\"action\":\"remove\"") && log.contains("duplicate of the public notes"));
}

#[test]
fn a_directory_is_labeled_with_r_and_refused_without() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    for name in ["a.txt", "sub/b.csv", "sub/deeper/c.step"] {
        write(&dir.path().join(name), name);
    }
    let run = tanaka
        .fuda(&["label", "set", "社外秘", p(dir.path())])
        .expect(2);
    assert!(run.stderr.contains("-r"), "{}", run.stderr);

    tanaka
        .fuda(&["label", "set", "社外秘", "-r", p(dir.path())])
        .expect(0);
    let run = tanaka
        .fuda(&["label", "check", "-r", "--json", p(dir.path())])
        .expect(0);
    let rows = run.file_records();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r["status"] == "valid" && r["level"] == "internal"));
    // The totals come last, as a record of their own.
    let summary = run.json_lines().pop().unwrap();
    assert_eq!(
        (&summary["type"], &summary["checked"], &summary["valid"]),
        (&"summary".into(), &3.into(), &3.into()),
        "{summary}"
    );

    // One unlabeled file among them is a finding.
    write(&dir.path().join("sub/new.txt"), "new");
    let run = tanaka
        .fuda(&["label", "check", "-r", p(dir.path())])
        .expect(1);
    assert!(
        run.stdout.contains("new.txt") && run.stdout.contains("missing"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 valid") && run.stdout.contains("1 missing"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_and_read_only_files_are_clear_errors_and_change_nothing() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let missing = dir.path().join("nope.txt");
    let run = tanaka.fuda(&["label", "set", "秘", p(&missing)]).expect(2);
    assert!(
        run.stderr.contains("nope.txt") && run.stderr.contains("no such file"),
        "{}",
        run.stderr
    );

    let ro = dir.path().join("frozen.txt");
    write(&ro, "frozen");
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(&ro, perms).unwrap();
    let run = tanaka.fuda(&["label", "set", "秘", p(&ro)]).expect(2);
    assert!(
        run.stderr.contains("frozen.txt") && run.stderr.contains("read-only"),
        "{}",
        run.stderr
    );
    assert_eq!(xattr::get(&ro, LABEL_ATTR).unwrap(), None);
    assert_eq!(std::fs::read(&ro).unwrap(), b"frozen");
}

#[test]
fn a_file_system_without_user_xattrs_is_refused_unless_the_sidecar_is_asked_for() {
    let tanaka = User::init("tanaka");
    let Some(mount) = common::RamFs::mount() else {
        return;
    };
    let f = mount.path().join("report.txt");
    write(&f, "quarterly report");

    let run = tanaka.fuda(&["label", "set", "秘", p(&f)]).expect(2);
    assert!(
        run.stderr.contains("report.txt") && run.stderr.contains("extended attributes"),
        "{}",
        run.stderr
    );
    assert!(
        !mount.path().join(".fuda").exists(),
        "nothing written on refusal"
    );
    assert_eq!(std::fs::read(&f).unwrap(), b"quarterly report");

    let run = tanaka
        .fuda(&["label", "set", "秘", "--store", "auto", p(&f)])
        .expect(0);
    assert!(
        run.stdout.contains("sidecar"),
        "the fallback is reported: {}",
        run.stdout
    );
    let shown = tanaka.show(&f);
    assert_eq!(
        (shown["status"].as_str(), shown["store"].as_str()),
        (Some("valid"), Some("sidecar"))
    );
}

#[test]
fn the_sidecar_is_used_when_asked_for() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let f = dir.path().join("a.txt");
    write(&f, "a");
    tanaka
        .fuda(&["label", "set", "社外秘", "--store", "sidecar", p(&f)])
        .expect(0);
    assert_eq!(xattr::get(&f, LABEL_ATTR).unwrap(), None);
    assert!(dir.path().join(".fuda/labels.json").exists());
    assert_eq!(tanaka.show(&f)["store"], "sidecar");
    write(&f, "changed");
    assert_eq!(tanaka.show(&f)["status"], "stale");
}

#[test]
fn office_documents_carry_the_label_inside_and_corrupt_ones_are_refused() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/fuda-core/tests/data/ooxml");
    for name in ["python-docx.docx", "openpyxl.xlsx", "python-pptx.pptx"] {
        let doc = dir.path().join(name);
        std::fs::copy(fixtures.join(name), &doc).unwrap();
        tanaka.fuda(&["label", "set", "秘", p(&doc)]).expect(0);
        let shown = tanaka.show(&doc);
        assert_eq!(
            (shown["store"].as_str(), shown["status"].as_str()),
            (Some("ooxml"), Some("valid")),
            "{name}"
        );
        assert_eq!(
            xattr::get(&doc, LABEL_ATTR).unwrap(),
            None,
            "{name}: the label is inside, not in an xattr"
        );
    }

    let broken = dir.path().join("broken.docx");
    write(&broken, b"PK\x03\x04 this is not really a zip");
    let run = tanaka.fuda(&["label", "set", "秘", p(&broken)]).expect(2);
    assert!(
        run.stderr.contains("broken.docx") && run.stderr.contains("not a valid Office document"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(&broken).unwrap(),
        b"PK\x03\x04 this is not really a zip"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("fuda-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}
