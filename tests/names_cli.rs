//! End-to-end: file names that are not UTF-8 — a Japanese share written with
//! `unix charset = CP932`, a name with a broken byte, a newline in a name, a 255-byte
//! name — are labeled, classified and scanned without a crash, and JSON output carries
//! the exact bytes of every path (`{"text": …}` or `{"bytes": base64}`).

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use common::{json_paths, p, path_of, write, User};

/// The awkward names of an old share, as raw bytes.
fn awkward_names() -> Vec<Vec<u8>> {
    let (cp932, _, unmappable) = encoding_rs::SHIFT_JIS.encode("極秘図面.txt");
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&cp932).is_err(),
        "CP932 bytes are not UTF-8"
    );
    let mut long = vec![b'a'; 251];
    long.extend_from_slice(b".txt");
    assert_eq!(long.len(), 255);
    vec![
        cp932.into_owned(),
        b"bad\xff.txt".to_vec(),
        b"two\nlines.txt".to_vec(),
        long,
        "普通の名前.txt".as_bytes().to_vec(),
    ]
}

/// A folder holding one file of each awkward name; returns their paths.
fn share(root: &Path) -> BTreeSet<PathBuf> {
    awkward_names()
        .into_iter()
        .map(|name| {
            let path = root.join(OsString::from_vec(name));
            write(&path, "極秘 設計図面 社外秘");
            path
        })
        .collect()
}

fn label_every_file(store: Option<&str>) {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let files = share(dir.path());

    let mut set = vec!["label", "set", "関係者外秘", "-r", p(dir.path()), "--json"];
    if let Some(store) = store {
        set.extend(["--store", store]);
    }
    let run = tanaka.fuda(&set).expect(0);
    assert_eq!(json_paths(&run.json_lines()), files, "{}", run.stdout);

    let shown = tanaka
        .fuda(&["label", "show", "--json", "-r", p(dir.path())])
        .expect(0);
    let lines = shown.json_lines();
    assert_eq!(json_paths(&lines), files, "{}", shown.stdout);
    for v in &lines {
        assert_eq!(v["status"], "valid", "{v}");
        assert_eq!(v["level"], "confidential", "{v}");
    }

    // People read the names escaped, one file a line.
    let table = tanaka
        .fuda(&["label", "show", "-r", p(dir.path())])
        .expect(0);
    assert!(table.stdout.contains(r"bad\xff.txt"), "{}", table.stdout);
    assert!(table.stdout.contains(r"two\nlines.txt"), "{}", table.stdout);

    let check = tanaka
        .fuda(&["label", "check", "-r", p(dir.path())])
        .expect(0);
    assert!(check.stdout.contains("5 valid"), "{}", check.stdout);
}

#[test]
fn files_with_non_utf8_names_are_labeled_in_xattrs() {
    label_every_file(None);
}

#[test]
fn files_with_non_utf8_names_are_labeled_in_the_sidecar_index() {
    label_every_file(Some("sidecar"));
}

#[test]
fn classify_json_carries_the_exact_bytes_of_every_name() {
    let hook = User::new("hook");
    let dir = common::workdir();
    let files = share(dir.path());
    let run = hook
        .fuda(&["classify", "--json", "-r", p(dir.path())])
        .expect(0);
    assert_eq!(json_paths(&run.json_lines()), files, "{}", run.stdout);
    let bad = run
        .json_lines()
        .into_iter()
        .find(|v| {
            path_of(&v["path"]).as_os_str().as_bytes()
                == dir
                    .path()
                    .join(OsString::from_vec(b"bad\xff.txt".to_vec()))
                    .as_os_str()
                    .as_bytes()
        })
        .expect("the broken name is classified");
    assert!(bad["path"].get("bytes").is_some(), "{bad}");

    let table = hook.fuda(&["classify", "-r", p(dir.path())]).expect(0);
    assert!(table.stdout.contains(r"bad\xff.txt"), "{}", table.stdout);
}

#[test]
fn scan_apply_labels_files_with_non_utf8_names() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let files = share(dir.path());
    let run = tanaka
        .fuda(&["scan", "--apply", "--json", p(dir.path())])
        .expect(0);
    assert_eq!(json_paths(&run.json_lines()), files, "{}", run.stdout);
    let shown = tanaka
        .fuda(&["label", "show", "--json", "-r", p(dir.path())])
        .expect(0);
    for v in shown.json_lines() {
        assert_eq!(v["status"], "valid", "{v}");
    }
    assert_eq!(json_paths(&shown.json_lines()), files);
}

#[test]
fn watch_labels_files_with_non_utf8_names_created_while_it_runs() {
    let hook = User::init("fuda-hook");
    let dir = common::workdir();
    let watch = common::watch::Watch::start(&hook, dir.path(), None);
    let files = share(dir.path());
    watch.wait_for_labels(&files, 30);
    let (code, events) = watch.stop();
    assert_eq!(code, 0, "{events:?}");
    assert!(!events.iter().any(|e| e["event"] == "failed"), "{events:?}");
    let shown = hook
        .fuda(&["label", "show", "--json", "-r", p(dir.path())])
        .expect(0);
    assert_eq!(json_paths(&shown.json_lines()), files);
    for v in shown.json_lines() {
        assert_eq!(v["level"], "strictly-confidential", "{v}");
    }
}

#[test]
fn inventory_lists_files_with_non_utf8_names() {
    let admin = User::init("admin");
    let dir = common::workdir();
    share(dir.path());
    admin
        .fuda(&["label", "set", "関係者外秘", "-r", p(dir.path())])
        .expect(0);
    let out = common::workdir();
    let json = out.path().join("inventory.json");
    let run = admin.fuda(&[
        "inventory",
        p(dir.path()),
        "--format",
        "json",
        "--out",
        p(&json),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let inv: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(inv["files"].as_array().unwrap().len(), 5, "{inv:#}");
}
