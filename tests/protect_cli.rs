//! End-to-end: `fuda protect`, `share`, `unshare` and `rights` print typed `--json` records
//! whose paths round-trip the exact bytes of a name that is not UTF-8 (a CP932 name from an
//! old Samba share), and their tables print such a name escaped instead of panicking.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fuda_bin, jp, path_of, write, Run, User};
use serde_json::json;

/// Runs `fuda ARGS…` as `user`, with arguments that need not be UTF-8.
fn fuda(user: &User, args: &[&OsStr]) -> Run {
    let out = Command::new(fuda_bin())
        .args(args)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("FUDA_KEYD_NOW")
        .output()
        .expect("run fuda");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// 極秘図面.txt as CP932 bytes: not UTF-8.
fn cp932_name(dir: &Path) -> PathBuf {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode("極秘図面.txt");
    assert!(!unmappable && std::str::from_utf8(&bytes).is_err());
    dir.join(OsStr::from_bytes(&bytes))
}

#[test]
fn the_protect_commands_print_typed_records_with_the_exact_bytes_of_each_path() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let drawing = cp932_name(dir.path());
    write(&drawing, "0\nSECTION\n");

    let run = fuda(
        &tanaka,
        &[
            os("protect"),
            drawing.as_os_str(),
            os("--level"),
            os("秘"),
            os("--json"),
        ],
    )
    .expect(0);
    let record = run.json_lines().remove(0);
    assert_eq!(record["type"], "protected", "{record}");
    assert_eq!(path_of(&record["path"]), drawing);
    let mut sealed = OsString::from_vec(drawing.as_os_str().as_bytes().to_vec());
    sealed.push(".fuda");
    let sealed = PathBuf::from(sealed);
    assert_eq!(path_of(&record["protected"]), sealed);
    assert!(sealed.exists() && !drawing.exists());
    assert_eq!(record["level"], "confidential");
    let doc = record["doc"].as_str().unwrap().to_owned();

    // share: what the principal may now do (sato must be in the directory).
    fuda(
        &tanaka,
        &[
            os("admin"),
            os("user"),
            os("add"),
            os("sato"),
            os("--dept"),
            os("営業部"),
        ],
    )
    .expect(0);
    let run = fuda(
        &tanaka,
        &[
            os("share"),
            sealed.as_os_str(),
            os("--grant"),
            os("user:sato=view"),
            os("--json"),
        ],
    )
    .expect(0);
    assert_eq!(
        run.json_lines(),
        vec![
            json!({"type": "grant", "path": jp(&sealed), "doc": doc, "principal": "user:sato", "rights": "view"})
        ]
    );

    // rights: the registration and the caller's own rights.
    let run = fuda(&tanaka, &[os("rights"), sealed.as_os_str(), os("--json")]).expect(0);
    let rights = run.json_lines().remove(0);
    assert_eq!(rights["type"], "rights");
    assert_eq!(rights["path"], jp(&sealed));
    assert_eq!(rights["document"]["id"], doc.as_str());
    assert!(
        rights["document"]["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["principal"] == "user:sato" && g["rights"] == "view"),
        "{rights}"
    );

    // unshare: no rights through that grant any more.
    let run = fuda(
        &tanaka,
        &[
            os("unshare"),
            sealed.as_os_str(),
            os("--user"),
            os("sato"),
            os("--json"),
        ],
    )
    .expect(0);
    assert_eq!(
        run.json_lines(),
        vec![
            json!({"type": "grant", "path": jp(&sealed), "doc": doc, "principal": "user:sato", "rights": ""})
        ]
    );

    // For people, the name is escaped, never a panic and never a raw byte.
    let table = fuda(&tanaka, &[os("rights"), sealed.as_os_str()]).expect(0);
    assert!(table.stdout.contains("\\x8b"), "{}", table.stdout);
    let opened = fuda(&tanaka, &[os("open"), sealed.as_os_str()]).expect(0);
    assert_eq!(opened.stdout, "0\nSECTION\n");
}

#[test]
fn a_working_copy_named_in_cp932_is_saved_back_and_reclassified_with_its_exact_bytes() {
    let tanaka = User::init("tanaka");
    let share = common::workdir();
    let desk = common::workdir();
    let drawing = cp932_name(share.path());
    write(&drawing, "図面 v1\n");
    fuda(
        &tanaka,
        &[os("protect"), drawing.as_os_str(), os("--level"), os("秘")],
    )
    .expect(0);
    let mut sealed = drawing.clone().into_os_string();
    sealed.push(".fuda");
    let sealed = PathBuf::from(sealed);
    let copy = cp932_name(desk.path());
    fuda(
        &tanaka,
        &[
            os("open"),
            sealed.as_os_str(),
            os("--out"),
            copy.as_os_str(),
        ],
    )
    .expect(0);
    let shown = fuda(
        &tanaka,
        &[os("label"), os("show"), os("--json"), copy.as_os_str()],
    )
    .expect(0)
    .json_lines()
    .remove(0);
    assert_eq!(shown["method"], "opened", "{shown}");

    // A file that is no working copy is refused, naming it escaped; nothing changes.
    let stray = desk.path().join(OsStr::from_bytes(b"\x8c\xa9\x90\xcf.txt"));
    write(&stray, "見積");
    let before = std::fs::read(&sealed).unwrap();
    let refused = fuda(
        &tanaka,
        &[
            os("save"),
            stray.as_os_str(),
            os("--to"),
            sealed.as_os_str(),
        ],
    )
    .expect(2);
    assert!(refused.stderr.contains("\\x8c"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&sealed).unwrap(), before);
    assert!(stray.exists());

    write(&copy, "図面 v2\n");
    let saved = fuda(
        &tanaka,
        &[
            os("save"),
            copy.as_os_str(),
            os("--to"),
            sealed.as_os_str(),
            os("--json"),
        ],
    )
    .expect(0)
    .json_lines()
    .remove(0);
    assert_eq!(saved["path"], jp(&copy), "{saved}");
    assert_eq!(path_of(&saved["protected"]), sealed);
    assert_eq!(saved["version"], 2);
    let raised = fuda(
        &tanaka,
        &[
            os("label"),
            os("set"),
            os("極秘"),
            sealed.as_os_str(),
            os("--justify"),
            os("見直し"),
            os("--json"),
        ],
    )
    .expect(0)
    .json_lines()
    .remove(0);
    assert_eq!(raised["type"], "reclassified");
    assert_eq!(raised["path"], jp(&sealed));
    assert_eq!(
        fuda(&tanaka, &[os("open"), sealed.as_os_str()])
            .expect(0)
            .stdout,
        "図面 v2\n"
    );
}
