//! End-to-end: a share tree holding every awkward name at once — CP932 bytes, a broken
//! byte, a newline, a 255-byte name and a folder chain deeper than the 4,096 bytes the
//! kernel takes in one path — goes through every command that walks, reads, labels or
//! rewrites files. Each finishes without a panic, labels every file, and its JSON carries
//! the exact bytes of each path.
//!
//! The tree is built without ever handing the kernel a long path: each folder is created
//! and opened through the one above it (`/proc/self/fd/N/<name>`), and the test never
//! changes its working folder (tests run in threads).

mod common;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use common::keyd::{policy_with_recovery, Keyd};
use common::{json_paths, p, path_of, User};

/// The longest path the kernel takes, terminating NUL included.
const PATH_MAX: usize = 4096;

/// What every file says: the default rules classify it 極秘 (strictly confidential).
const TEXT: &str = "極秘 設計図面 社外秘";

fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "CP932 bytes are not UTF-8"
    );
    bytes.into_owned()
}

/// The names at the top of the tree.
fn top_names() -> Vec<Vec<u8>> {
    let mut long = vec![b'a'; 251];
    long.extend_from_slice(b".txt");
    assert_eq!(long.len(), 255);
    vec![
        cp932("極秘図面.txt"),
        b"bad\xff.txt".to_vec(),
        b"two\nlines.txt".to_vec(),
        long,
        "普通の名前.txt".as_bytes().to_vec(),
    ]
}

/// `name` inside the folder open as `dir`, by a short path.
fn inside(dir: &File, name: &OsStr) -> PathBuf {
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

/// Opens the folder of `path` one component at a time and names `path` by a short path
/// inside it; the returned `File` keeps the folder open.
fn short(path: &Path) -> io::Result<(File, PathBuf)> {
    let mut dir = File::open("/")?;
    let mut parts: Vec<Component> = path.components().collect();
    let Some(Component::Normal(last)) = parts.pop() else {
        panic!("{} is not a file path", path.display());
    };
    for part in parts {
        match part {
            Component::RootDir => {}
            Component::Normal(name) => dir = File::open(inside(&dir, name))?,
            other => panic!("unexpected {other:?} in {}", path.display()),
        }
    }
    let at = inside(&dir, last);
    Ok((dir, at))
}

/// `std::fs::read` for a path of any length.
fn read(path: &Path) -> io::Result<Vec<u8>> {
    let (_dir, at) = short(path)?;
    std::fs::read(at)
}

/// Whether `path`, of any length, exists.
fn exists(path: &Path) -> bool {
    short(path).is_ok_and(|(_dir, at)| std::fs::symlink_metadata(at).is_ok())
}

/// Writes the tree below `root` (which exists) and returns every file in it. The deep
/// folder's path is over [`PATH_MAX`]; it holds a CP932 name, a UTF-8 one and a Word
/// document (whose label is written inside it, so the file is rewritten).
fn grow(root: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    let top = File::open(root).unwrap();
    for name in top_names() {
        let name = OsString::from_vec(name);
        std::fs::write(inside(&top, &name), TEXT).unwrap();
        files.insert(root.join(name));
    }
    let segment = "深い階層".repeat(16); // 192 bytes
    let mut dir = top;
    let mut deep = root.to_owned();
    while deep.as_os_str().len() <= PATH_MAX + 200 {
        std::fs::create_dir(inside(&dir, segment.as_ref())).unwrap();
        dir = File::open(inside(&dir, segment.as_ref())).unwrap();
        deep.push(&segment);
    }
    let deep_files = [
        (cp932("深い図面.txt"), TEXT.as_bytes().to_vec()),
        ("深い図面.txt".as_bytes().to_vec(), TEXT.as_bytes().to_vec()),
        (
            "深い図面.docx".as_bytes().to_vec(),
            common::office::docx(TEXT),
        ),
    ];
    for (name, content) in deep_files {
        let name = OsString::from_vec(name);
        std::fs::write(inside(&dir, &name), content).unwrap();
        let file = deep.join(name);
        assert!(file.as_os_str().len() > PATH_MAX);
        files.insert(file);
    }
    files
}

/// The store a file's label goes to: Office documents carry it inside.
fn store_of(file: &Path, store: &str) -> String {
    match file.extension() {
        Some(ext) if ext == "docx" => "ooxml".into(),
        _ => store.into(),
    }
}

/// A folder holding the whole tree.
fn tree() -> (tempfile::TempDir, BTreeSet<PathBuf>) {
    let dir = common::workdir();
    let files = grow(dir.path());
    assert_eq!(files.len(), 8);
    (dir, files)
}

fn the_tree_is_labeled_shown_and_checked(store: Option<&str>) {
    let tanaka = User::init("tanaka");
    let (dir, files) = tree();

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
        let want = store_of(&path_of(&v["path"]), store.unwrap_or("xattr"));
        assert_eq!(v["store"], want.as_str(), "{v}");
    }

    // People read every name on one line, the deep ones too.
    let table = tanaka
        .fuda(&["label", "show", "-r", p(dir.path())])
        .expect(0);
    assert!(table.stdout.contains(r"two\nlines.txt"), "{}", table.stdout);
    assert!(
        table.stdout.contains("深い階層/深い図面.txt"),
        "{}",
        table.stdout
    );

    let check = tanaka
        .fuda(&["label", "check", "-r", p(dir.path())])
        .expect(0);
    assert!(check.stdout.contains("8 valid"), "{}", check.stdout);

    // A deep file named on the command line, and removing its label.
    let deep = files.iter().max_by_key(|f| f.as_os_str().len()).unwrap();
    let removed = tanaka
        .fuda(&[
            "label",
            "remove",
            p_any(deep),
            "--justify",
            "test",
            "--json",
        ])
        .expect(0);
    assert_eq!(
        json_paths(&removed.json_lines()),
        BTreeSet::from([deep.clone()])
    );
    let after = tanaka
        .fuda(&["label", "show", "--json", p_any(deep)])
        .expect(0);
    assert_eq!(after.json_lines()[0]["status"], "missing");
}

/// A path as a command-line argument (UTF-8 paths only).
fn p_any(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn every_file_of_an_awkward_tree_is_labeled_in_xattrs() {
    the_tree_is_labeled_shown_and_checked(None);
}

#[test]
fn every_file_of_an_awkward_tree_is_labeled_in_sidecar_indexes() {
    the_tree_is_labeled_shown_and_checked(Some("sidecar"));
}

#[test]
fn classify_json_carries_every_path_of_the_tree() {
    let hook = User::new("hook");
    let (dir, files) = tree();
    let run = hook
        .fuda(&["classify", "--json", "-r", p(dir.path())])
        .expect(0);
    let lines = run.json_lines();
    assert_eq!(json_paths(&lines), files, "{}", run.stdout);
    for v in &lines {
        assert_eq!(v["level"], "strictly-confidential", "{v}");
    }
}

#[test]
fn scan_apply_labels_every_file_of_the_tree() {
    let tanaka = User::init("tanaka");
    let (dir, files) = tree();
    let run = tanaka
        .fuda(&["scan", "--apply", "--json", p(dir.path())])
        .expect(0);
    let lines = run.json_lines();
    assert_eq!(json_paths(&lines), files, "{}", run.stdout);
    let summary = lines.iter().find(|v| v.get("labeled").is_some()).unwrap();
    assert_eq!(summary["labeled"], 8, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let shown = tanaka
        .fuda(&["label", "show", "--json", "-r", p(dir.path())])
        .expect(0);
    assert_eq!(json_paths(&shown.json_lines()), files);
    for v in shown.json_lines() {
        assert_eq!(v["status"], "valid", "{v}");
        assert_eq!(v["level"], "strictly-confidential", "{v}");
    }
}

#[test]
fn watch_labels_every_file_of_the_tree_created_while_it_runs() {
    let hook = User::init("fuda-hook");
    let dir = common::workdir();
    let watch = common::watch::Watch::start(&hook, dir.path(), None);
    let files = grow(dir.path());
    watch.wait_for_labels(&files, 30);
    let (code, events) = watch.stop();
    assert_eq!(code, 0, "{events:?}");
    assert!(!events.iter().any(|e| e["event"] == "failed"), "{events:?}");
    // inotify cannot watch the folders past 4,096 bytes; the watcher says which.
    let unwatched: BTreeSet<PathBuf> = events
        .iter()
        .filter(|e| e["event"] == "unwatched")
        .flat_map(|e| e["folders"].as_array().unwrap().iter().map(path_of))
        .collect();
    let deep: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| f.parent().unwrap().to_owned())
        .filter(|d| d.as_os_str().len() >= 4096)
        .collect();
    assert!(!deep.is_empty());
    assert_eq!(unwatched, deep, "{events:?}");
    let shown = hook
        .fuda(&["label", "show", "--json", "-r", p(dir.path())])
        .expect(0);
    assert_eq!(json_paths(&shown.json_lines()), files);
    for v in shown.json_lines() {
        assert_eq!(v["level"], "strictly-confidential", "{v}");
    }
}

#[test]
fn protect_encrypts_every_file_of_the_tree_whose_protected_name_fits() {
    let keyd = Keyd::start();
    let work = common::workdir();
    let (policy, _recovery) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let (_dir, files) = tree();

    // Arguments are bytes: hand the non-UTF-8 paths over as they are.
    let mut cmd = std::process::Command::new(common::fuda_bin());
    cmd.args(["protect", "--level", "confidential", "--json"])
        .args(&files)
        .env("HOME", tanaka.home.path());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // `NAME.fuda` of the 255-byte name would be 260 bytes, over NAME_MAX: that file is
    // refused by name and left as it was; every other one is protected.
    let too_long = files
        .iter()
        .find(|f| f.file_name().unwrap().len() == 255)
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains(&"a".repeat(251)), "{stderr}");
    assert_eq!(read(too_long).unwrap(), TEXT.as_bytes());
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let originals: BTreeSet<PathBuf> = records.iter().map(|v| path_of(&v["path"])).collect();
    let protected: BTreeSet<PathBuf> = records.iter().map(|v| path_of(&v["protected"])).collect();
    let want: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| *f != too_long)
        .map(|f| {
            let mut name = f.clone().into_os_string();
            name.push(".fuda");
            PathBuf::from(name)
        })
        .collect();
    assert_eq!(protected, want, "{stdout}\n{stderr}");
    assert_eq!(originals.len(), 7);
    assert!(!originals.contains(too_long) && originals.is_subset(&files));
    for (file, fuda) in files.iter().filter(|f| *f != too_long).zip(&want) {
        assert!(!exists(file), "the original {} is removed", file.display());
        assert!(read(fuda).unwrap().starts_with(b"age-encryption.org/v1"));
    }

    // The key service registered each document under its exact name and path, and the
    // audit log's protect records carry the same bytes.
    let run = admin.fuda(&["admin", "documents", "--json"]).expect(0);
    let documents: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let registered: BTreeSet<PathBuf> = documents.iter().map(|d| path_of(&d["path"])).collect();
    let absolute: BTreeSet<PathBuf> = originals
        .iter()
        .map(|f| std::path::absolute(f).unwrap())
        .collect();
    assert_eq!(registered, absolute, "{}", run.stdout);
    for d in &documents {
        assert_eq!(
            path_of(&d["name"]).as_os_str(),
            path_of(&d["path"]).file_name().unwrap(),
            "{d}"
        );
    }
    let run = admin.fuda(&["admin", "audit", "--json"]).expect(0);
    let audited: BTreeSet<PathBuf> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["action"] == "protect" && r["outcome"] == "allow")
        .map(|r| path_of(&r["detail"]["name"]))
        .collect();
    let names: BTreeSet<PathBuf> = originals
        .iter()
        .map(|f| PathBuf::from(f.file_name().unwrap()))
        .collect();
    assert_eq!(audited, names, "{}", run.stdout);

    // The deep Word document opens again, into its deep folder.
    let docx = deepest(&files, "docx");
    let fuda = want
        .iter()
        .find(|f| {
            f.as_os_str()
                .as_bytes()
                .starts_with(docx.as_os_str().as_bytes())
        })
        .unwrap();
    let opened = docx.with_file_name("開いた.docx");
    tanaka
        .fuda(&["open", p(fuda), "--out", p(&opened)])
        .expect(0);
    // The working copy carries the document's label inside it (docProps/custom.xml): the
    // original's parts plus the label, which is the protected document's own.
    let shown = tanaka
        .fuda(&["label", "show", p(&opened), "--json"])
        .expect(0);
    let label: serde_json::Value =
        serde_json::from_str(shown.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(label["method"], "opened", "{label}");
    assert_eq!(label["store"], "ooxml", "{label}");
    let protected = tanaka.fuda(&["label", "show", p(fuda), "--json"]).expect(0);
    let protected: serde_json::Value =
        serde_json::from_str(protected.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(label["doc"], protected["doc"]);
}

/// The file with the longest path among those ending in `.ext`.
fn deepest<'a>(files: &'a BTreeSet<PathBuf>, ext: &str) -> &'a PathBuf {
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == ext))
        .max_by_key(|f| f.as_os_str().len())
        .unwrap()
}

#[test]
fn inventory_of_the_tree_in_xlsx_csv_and_json() {
    let admin = User::init("admin");
    let (dir, files) = tree();
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
    let listed = json_paths(inv["files"].as_array().unwrap());
    assert_eq!(listed, files, "{inv:#}");
    assert_eq!(inv["summary"]["valid"], 8, "{inv:#}");
    // The deep files are too long for a Windows client, and said so by their exact path.
    let too_long: BTreeSet<PathBuf> = inv["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "path-too-long-for-windows")
        .map(|f| path_of(&f["path"]))
        .collect();
    let deep: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| f.as_os_str().len() > PATH_MAX)
        .cloned()
        .collect();
    assert_eq!(too_long, deep);

    let csv = out.path().join("ledger.csv");
    let run = admin.fuda(&[
        "inventory",
        p(dir.path()),
        "--format",
        "csv",
        "--out",
        p(&csv),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let rows = std::fs::read_to_string(out.path().join("ledger-files.csv")).unwrap();
    assert_eq!(
        rows.matches("\r\n").count(),
        1 + 8,
        "one line a file: {rows}"
    );
    assert!(rows.contains(r"bad\xff.txt"), "{rows}");
    assert!(rows.contains(r"two\nlines.txt"), "{rows}");
    assert!(rows.contains("深い階層/深い図面.txt"), "{rows}");

    let xlsx = out.path().join("ledger.xlsx");
    let run = admin.fuda(&["inventory", p(dir.path()), "--out", p(&xlsx)]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let text = workbook_text(&xlsx);
    assert!(
        text.contains(r"bad\xff.txt"),
        "the escaped name is in the workbook"
    );
    assert!(text.contains("深い階層/深い図面.txt"));
    assert!(!text.contains('\u{fffd}'), "no name is replaced by U+FFFD");
}

/// Every XML part of a workbook, as one string.
fn workbook_text(xlsx: &Path) -> String {
    let mut zip = zip::ZipArchive::new(File::open(xlsx).unwrap()).unwrap();
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        if part.name().ends_with(".xml") {
            io::Read::read_to_string(&mut part, &mut text).unwrap();
        }
    }
    text
}

#[test]
fn the_tree_really_is_awkward() {
    let (_dir, files) = tree();
    let long = files
        .iter()
        .filter(|f| f.as_os_str().len() > PATH_MAX)
        .count();
    assert_eq!(long, 3);
    let deep = deepest(&files, "txt");
    assert_eq!(
        std::fs::metadata(deep).unwrap_err().raw_os_error(),
        Some(36),
        "the kernel refuses the whole path (ENAMETOOLONG)"
    );
    assert_eq!(read(deep).unwrap(), TEXT.as_bytes());
    assert!(files
        .iter()
        .any(|f| f.as_os_str().as_bytes().contains(&b'\n')));
}
