//! Crash safety, kill point by kill point: every `fuda` command that changes a user's files
//! is run once to count its durable steps (`FUDA_CRASH_COUNT`, see
//! `fuda_core::crashpoint`), then once per step with `FUDA_CRASH_AT=N`, which kills the
//! real process with SIGKILL just before its N-th create, write, sync, link, rename,
//! remove or extended-attribute change. After every kill:
//!
//! - each of the user's files is its old version or its new one, complete — never
//!   neither, never truncated, never an Office package that does not open;
//! - nothing else is in the folder: no temporary file, no plaintext copy but a complete
//!   output, and no plaintext anywhere in the user's HOME;
//! - a label that is there is valid for the content beside it;
//! - running the command again succeeds and gives the state a clean run gives.
//!
//! Each test prints how many kill points it exercised (`--nocapture`).

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{fuda_bin, require_tool, User};

/// Every line of every secret file carries this, so a stray copy is found by a grep.
const MARK: &str = "PLAINTEXT-MARK";

/// A secret text of about 64 KiB naming its `version` on every line.
fn secret(version: &str) -> Vec<u8> {
    let line = format!("設計図 {version} {MARK}\n");
    line.repeat((64 << 10) / line.len() + 1).into_bytes()
}

/// The Office documents made by the real tools (python-docx, openpyxl, python-pptx).
fn office_fixture(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/fuda-core/tests/data/ooxml");
    std::fs::read(dir.join(name)).unwrap()
}

/// Runs `fuda ARGS…` as `user` in the folder `dir` with `env`; the raw output.
fn fuda(user: &User, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(fuda_bin())
        .args(args)
        .current_dir(dir)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("FUDA_KEYD_NOW")
        .env_remove("FUDA_CRASH_AT")
        .env_remove("FUDA_CRASH_COUNT")
        .envs(env.iter().copied())
        .output()
        .expect("run fuda")
}

/// Runs `fuda ARGS…` and requires it to succeed.
fn fuda_ok(user: &User, dir: &Path, args: &[&str]) -> Output {
    let out = fuda(user, dir, args, &[]);
    assert!(out.status.success(), "fuda {args:?}: {}", shown(&out));
    out
}

fn shown(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A label as `fuda label check --json` reports it: (status, level id).
type Seen = (String, Option<String>);

/// The status and level of each of `files` (relative to `dir`).
fn labels(user: &User, dir: &Path, files: &[&str]) -> Vec<Seen> {
    let mut args = vec!["label", "check", "--json"];
    args.extend(files);
    let out = fuda(user, dir, &args, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|r: &serde_json::Value| r["type"] == "file")
        .collect();
    files
        .iter()
        .map(|f| {
            let r = records
                .iter()
                .find(|r| r["path"]["text"] == *f)
                .unwrap_or_else(|| panic!("no record for {f}: {}", shown(&out)));
            (
                r["status"].as_str().unwrap().to_owned(),
                r["level"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// A label that is either absent or valid at one of `levels`.
fn absent_or_valid(seen: &Seen, levels: &[&str]) -> Result<(), String> {
    match seen {
        (s, _) if s == "missing" => Ok(()),
        (s, Some(l)) if s == "valid" && levels.contains(&l.as_str()) => Ok(()),
        other => Err(format!("label {other:?}, wanted none or valid {levels:?}")),
    }
}

/// The level names among the file's desktop tags (`user.xdg.tags`, comma-separated).
fn level_tags(dir: &Path, name: &str) -> Vec<String> {
    let tags = xattr::get(dir.join(name), "user.xdg.tags").unwrap_or_default();
    let text = String::from_utf8_lossy(tags.as_deref().unwrap_or_default()).into_owned();
    text.split(',')
        .filter(|t| ["公開", "社外秘", "秘", "極秘"].contains(t))
        .map(str::to_owned)
        .collect()
}

/// The file's tags name exactly the level `ja` (or none without a label).
fn tags_follow(dir: &Path, name: &str, ja: Option<&str>) -> Result<(), String> {
    let tags = level_tags(dir, name);
    if tags.iter().map(String::as_str).ne(ja) {
        return Err(format!("{name}: tags {tags:?} but label {ja:?}"));
    }
    Ok(())
}

/// The content of the protected file `name` as `fuda open` gives it, or why not.
fn opened(user: &User, dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    let out = fuda(user, dir, &["open", name], &[]);
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{name} does not open: {}", shown(&out)))
    }
}

/// Whether `bytes` is a zip package whose every entry reads back (CRCs checked).
fn whole_package(bytes: &[u8]) -> Result<(), String> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip: {e}"))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| format!("entry {i}: {e}"))?;
    }
    Ok(())
}

/// Every file under `dir`, relative, folders included (with a trailing `/`).
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.insert(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Files under `dir` holding the plaintext mark, but those in `allowed`.
fn plaintext_outside(dir: &Path, allowed: &[&str]) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|rel| !rel.ends_with('/') && !allowed.contains(&rel.as_str()))
        .filter(|rel| {
            std::fs::read(dir.join(rel)).is_ok_and(|b| String::from_utf8_lossy(&b).contains(MARK))
        })
        .collect()
}

/// A regular file only its owner can read.
fn private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 == 0)
}

/// Whether user extended attributes work where the tests' folders are.
fn user_xattrs() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"x").unwrap();
    require_tool(
        "user extended attributes on the temp folder",
        xattr::set(&probe, "user.fuda.probe", b"1").is_ok(),
    )
}

/// What "after" means for one command: how the folder starts, the command, and how to
/// tell its old state from its new one.
struct Case<'a> {
    name: &'a str,
    user: &'a User,
    /// Makes the starting state in a fresh folder.
    setup: &'a dyn Fn(&Path),
    /// The command, with names relative to the folder.
    args: &'a [&'a str],
    /// Every name that may be in the folder before, during or after (folders end in `/`).
    names: &'a [&'a str],
    /// The files that may hold plaintext.
    plaintext: &'a [&'a str],
    /// After a kill: every file old or new; `Ok(true)` when the command's output is
    /// complete and it is not to be run again (an output it never overwrites).
    check: &'a dyn Fn(&Path) -> Result<bool, String>,
    /// After the command completed.
    done: &'a dyn Fn(&Path) -> Result<(), String>,
    /// Exit codes of a run that completed (1: it reported findings).
    codes: &'a [i32],
    /// For a command whose complete output stays as it is: the next command to write in
    /// the folder, which removes what a killed run left there.
    next: &'a [&'a str],
    /// The environment of every run of the command.
    env: &'a [(&'a str, &'a str)],
}

impl Case<'_> {
    /// The folder holds only the names the command may leave, and plaintext only where
    /// it belongs; the user's HOME holds none. Just after a kill (`killed`), a temporary
    /// file may be there for the next run to remove, holding plaintext only if it is
    /// private; once a run finished, nothing may.
    fn nothing_stray(&self, dir: &Path, at: &str, killed: bool) {
        let (temporary, strays): (Vec<String>, Vec<String>) = tree(dir)
            .into_iter()
            .filter(|n| !self.names.contains(&n.as_str()))
            .partition(|n| killed && n.contains(".fuda-tmp-"));
        assert!(strays.is_empty(), "{at}: left behind {strays:?}");
        // Plaintext in a temporary file only where no one else can read it.
        let mut allowed = self.plaintext.to_vec();
        allowed.extend(
            temporary
                .iter()
                .filter(|n| private(&dir.join(n)))
                .map(String::as_str),
        );
        let leaked = plaintext_outside(dir, &allowed);
        assert!(leaked.is_empty(), "{at}: plaintext in {leaked:?}");
        let home = plaintext_outside(self.user.home.path(), &[]);
        assert!(home.is_empty(), "{at}: plaintext in HOME: {home:?}");
    }

    /// Runs `args` (the command, or the next one) in `dir` with the case's environment
    /// and `extra`.
    fn run(&self, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let env: Vec<(&str, &str)> = self.env.iter().chain(extra).copied().collect();
        fuda(self.user, dir, args, &env)
    }

    fn completed(&self, out: &Output) -> bool {
        out.status.code().is_some_and(|c| self.codes.contains(&c))
    }

    /// Counts the command's steps, then kills it before each one in turn; returns the
    /// number of kills.
    fn exercise(&self) -> usize {
        // A first run makes what a user's first command makes once (keys, caches).
        let warm = tempfile::tempdir().unwrap();
        (self.setup)(warm.path());
        let out = self.run(warm.path(), self.args, &[]);
        assert!(
            self.completed(&out),
            "{}, first run: {}",
            self.name,
            shown(&out)
        );

        let counted = tempfile::tempdir().unwrap();
        (self.setup)(counted.path());
        let list = self.user.home.path().join("crash-steps");
        let _ = std::fs::remove_file(&list);
        let list_env = list.to_str().unwrap();
        let out = self.run(counted.path(), self.args, &[("FUDA_CRASH_COUNT", list_env)]);
        assert!(self.completed(&out), "{}: {}", self.name, shown(&out));
        let steps: Vec<String> = std::fs::read_to_string(&list)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let _ = std::fs::remove_file(&list);
        (self.done)(counted.path()).unwrap_or_else(|e| panic!("{}, clean run: {e}", self.name));
        self.nothing_stray(counted.path(), &format!("{}, clean run", self.name), false);

        let mut kills = 0;
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            let at = format!(
                "{}: killed before step {n} of {} ({step})",
                self.name,
                steps.len()
            );
            let dir = tempfile::tempdir().unwrap();
            (self.setup)(dir.path());
            let out = self.run(dir.path(), self.args, &[("FUDA_CRASH_AT", &n.to_string())]);
            let killed = out.status.signal() == Some(9);
            if killed {
                kills += 1;
                self.nothing_stray(dir.path(), &at, true);
                let complete = (self.check)(dir.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
                let again = if complete { self.next } else { self.args };
                if !again.is_empty() {
                    let again = self.run(dir.path(), again, &[]);
                    assert!(self.completed(&again), "{at}, run again: {}", shown(&again));
                }
            } else {
                // This run took fewer steps than the counted one (a cache was warm).
                assert!(self.completed(&out), "{at}: {}", shown(&out));
            }
            (self.done)(dir.path()).unwrap_or_else(|e| panic!("{at}, then finished: {e}"));
            self.nothing_stray(dir.path(), &format!("{at}, then finished"), false);
        }
        eprintln!(
            "{}: {kills} kill points of {} steps",
            self.name,
            steps.len()
        );
        assert!(kills >= 3, "{}: only {kills} kill points", self.name);
        kills
    }
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn labeling_plain_files_killed_at_every_step_leaves_each_file_unlabeled_or_validly_labeled() {
    let env: &[(&str, &str)] = &[];
    if !user_xattrs() {
        return;
    }
    let user = User::init("tanaka");
    let files = ["a.txt", "b.txt", "c.txt"];
    let setup = |dir: &Path| {
        for f in files {
            put(dir, f, &secret(f));
        }
    };
    let unchanged = |dir: &Path| -> Result<(), String> {
        for f in files {
            if std::fs::read(dir.join(f)).map_err(|e| format!("{f}: {e}"))? != secret(f) {
                return Err(format!("{f} changed"));
            }
        }
        Ok(())
    };
    let mut total = 0;

    // A new label in the extended attribute.
    let args = ["label", "set", "秘", "a.txt", "b.txt", "c.txt"];
    total += Case {
        name: "label set (xattr)",
        user: &user,
        setup: &setup,
        args: &args,
        names: &files,
        plaintext: &files,
        check: &|dir| {
            unchanged(dir)?;
            for seen in labels(&user, dir, &files) {
                absent_or_valid(&seen, &["confidential"])?;
            }
            Ok(false)
        },
        done: &|dir| {
            unchanged(dir)?;
            for (f, seen) in files.iter().zip(labels(&user, dir, &files)) {
                absent_or_valid(&seen, &["confidential"]).map_err(|e| format!("{f}: {e}"))?;
                if seen.0 != "valid" {
                    return Err(format!("{f} is not labeled"));
                }
                tags_follow(dir, f, Some("秘"))?;
            }
            Ok(())
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();

    // A label changed, and one removed.
    let labeled = |dir: &Path| {
        setup(dir);
        fuda_ok(
            &user,
            dir,
            &["label", "set", "社外秘", "a.txt", "b.txt", "c.txt"],
        );
    };
    total += Case {
        name: "label set (xattr relabel)",
        user: &user,
        setup: &labeled,
        args: &["label", "set", "秘", "a.txt", "b.txt"],
        names: &files,
        plaintext: &files,
        check: &|dir| {
            unchanged(dir)?;
            for seen in labels(&user, dir, &files) {
                match seen {
                    (s, Some(l)) if s == "valid" && (l == "internal" || l == "confidential") => {}
                    other => return Err(format!("label {other:?}")),
                }
            }
            Ok(false)
        },
        done: &|dir| {
            unchanged(dir)?;
            let levels: Vec<Seen> = labels(&user, dir, &files);
            let valid = |l: &str| ("valid".to_owned(), Some(l.to_owned()));
            if levels
                != [
                    valid("confidential"),
                    valid("confidential"),
                    valid("internal"),
                ]
            {
                return Err(format!("labels {levels:?}"));
            }
            tags_follow(dir, "a.txt", Some("秘"))?;
            tags_follow(dir, "b.txt", Some("秘"))?;
            tags_follow(dir, "c.txt", Some("社外秘"))
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    total += Case {
        name: "label remove (xattr)",
        user: &user,
        setup: &labeled,
        args: &["label", "remove", "--justify", "誤分類", "a.txt", "b.txt"],
        names: &files,
        plaintext: &files,
        check: &|dir| {
            unchanged(dir)?;
            for seen in labels(&user, dir, &files) {
                absent_or_valid(&seen, &["internal"])?;
            }
            Ok(false)
        },
        done: &|dir| {
            unchanged(dir)?;
            let levels = labels(&user, dir, &files);
            let removed = ("missing".to_owned(), None);
            if levels[..2] != [removed.clone(), removed] || levels[2].0 != "valid" {
                return Err(format!("labels {levels:?}"));
            }
            tags_follow(dir, "a.txt", None)?;
            tags_follow(dir, "b.txt", None)?;
            tags_follow(dir, "c.txt", Some("社外秘"))
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();

    // Labels in the sidecar index, which is rewritten whole for each file.
    let sidecar_names = [
        "a.txt",
        "b.txt",
        "c.txt",
        ".fuda/",
        ".fuda/labels.json",
        ".fuda/lock",
    ];
    let index_whole = |dir: &Path| -> Result<(), String> {
        match std::fs::read(dir.join(".fuda/labels.json")) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(drop)
                .map_err(|e| format!("the sidecar index is damaged: {e}")),
            Err(_) => Ok(()),
        }
    };
    total += Case {
        name: "label set (sidecar)",
        user: &user,
        setup: &setup,
        args: &[
            "label", "set", "--store", "sidecar", "秘", "a.txt", "b.txt", "c.txt",
        ],
        names: &sidecar_names,
        plaintext: &files,
        check: &|dir| {
            unchanged(dir)?;
            index_whole(dir)?;
            for seen in labels(&user, dir, &files) {
                absent_or_valid(&seen, &["confidential"])?;
            }
            Ok(false)
        },
        done: &|dir| {
            unchanged(dir)?;
            index_whole(dir)?;
            let levels = labels(&user, dir, &files);
            if levels
                .iter()
                .any(|l| l != &("valid".to_owned(), Some("confidential".to_owned())))
            {
                return Err(format!("labels {levels:?}"));
            }
            Ok(())
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    eprintln!("plain files: {total} kill points");
}

/// The Office documents of the tests: (name in the folder, fixture made by the real tool).
const OFFICE: [(&str, &str); 3] = [
    ("x.docx", "python-docx.docx"),
    ("y.xlsx", "openpyxl.xlsx"),
    ("z.pptx", "python-pptx.pptx"),
];

/// Opens every document in `dir` with python-docx, openpyxl or python-pptx (one process);
/// `false` (a skip) without them.
fn office_tools_open(dir: &Path) -> bool {
    const SCRIPT: &str = r#"
import sys, pathlib, docx, openpyxl, pptx
for p in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    {".docx": docx.Document, ".xlsx": openpyxl.load_workbook, ".pptx": pptx.Presentation}[p.suffix](str(p))
print("opened", len(list(pathlib.Path(sys.argv[1]).iterdir())))
"#;
    let present = Command::new("python3")
        .args(["-c", "import docx, openpyxl, pptx"])
        .status()
        .is_ok_and(|s| s.success());
    if !require_tool(
        "python3 with python-docx, openpyxl and python-pptx",
        present,
    ) {
        return false;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a document does not open: {}",
        shown(&out)
    );
    true
}

/// Keeps a copy of each Office document in `dir` that is not its fixture, for
/// [`office_tools_open`].
fn keep_new_documents(dir: &Path, kept: &Path) {
    for (name, fixture) in OFFICE {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            if bytes != office_fixture(fixture) {
                let n = std::fs::read_dir(kept).unwrap().count();
                std::fs::write(kept.join(format!("{n}-{name}")), bytes).unwrap();
            }
        }
    }
}

#[test]
fn labeling_office_documents_killed_at_every_step_leaves_each_document_whole() {
    let env: &[(&str, &str)] = &[];
    let user = User::init("tanaka");
    let names: Vec<&str> = OFFICE.iter().map(|(n, _)| *n).collect();
    let setup = |dir: &Path| {
        for (name, fixture) in OFFICE {
            put(dir, name, &office_fixture(fixture));
        }
    };
    let kept = tempfile::tempdir().unwrap();
    // Each document is its fixture, unlabeled, or a whole package validly labeled `level`.
    let old_or_new = |dir: &Path, old: Option<&str>, new: Option<&str>| -> Result<(), String> {
        // Unlabeled is the fixture itself, but after a removal.
        let pristine = old.is_none() && new.is_some();
        keep_new_documents(dir, kept.path());
        for ((name, fixture), seen) in OFFICE.iter().zip(labels(&user, dir, &names)) {
            let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
            whole_package(&bytes).map_err(|e| format!("{name}: {e}"))?;
            let level = seen.1.as_deref();
            let fits = |want: Option<&str>| match want {
                None => seen.0 == "missing",
                Some(l) => seen.0 == "valid" && level == Some(l),
            };
            if !(fits(old) || fits(new)) {
                return Err(format!("{name}: label {seen:?}, wanted {old:?} or {new:?}"));
            }
            if pristine && seen.0 == "missing" && bytes != office_fixture(fixture) {
                return Err(format!("{name} changed but carries no label"));
            }
        }
        Ok(())
    };
    let mut total = 0;
    let args = ["label", "set", "秘", "x.docx", "y.xlsx", "z.pptx"];
    total += Case {
        name: "label set (Office)",
        user: &user,
        setup: &setup,
        args: &args,
        names: &names,
        plaintext: &[],
        check: &|dir| old_or_new(dir, None, Some("confidential")).map(|()| false),
        done: &|dir| old_or_new(dir, Some("confidential"), Some("confidential")),
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    let labeled = |dir: &Path| {
        setup(dir);
        fuda_ok(&user, dir, &args);
    };
    total += Case {
        name: "label set (Office relabel)",
        user: &user,
        setup: &labeled,
        args: &["label", "set", "極秘", "x.docx", "y.xlsx", "z.pptx"],
        names: &names,
        plaintext: &[],
        check: &|dir| {
            old_or_new(dir, Some("confidential"), Some("strictly-confidential")).map(|()| false)
        },
        done: &|dir| {
            old_or_new(
                dir,
                Some("strictly-confidential"),
                Some("strictly-confidential"),
            )
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    total += Case {
        name: "label remove (Office)",
        user: &user,
        setup: &labeled,
        args: &[
            "label",
            "remove",
            "--justify",
            "誤分類",
            "x.docx",
            "y.xlsx",
            "z.pptx",
        ],
        names: &names,
        plaintext: &[],
        check: &|dir| old_or_new(dir, Some("confidential"), None).map(|()| false),
        done: &|dir| {
            for seen in labels(&user, dir, &names) {
                if seen.0 != "missing" {
                    return Err(format!("a label is left: {seen:?}"));
                }
            }
            old_or_new(dir, None, None)
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    office_tools_open(kept.path());
    eprintln!("Office documents: {total} kill points");
}

#[test]
fn protecting_opening_and_saving_killed_at_every_step_never_lose_or_leak_the_content() {
    let total = protected_files(&[]);
    eprintln!("protected files: {total} kill points");
}

/// Where the file system cannot make unnamed temporary files (some network mounts), they
/// are named and 0600: a kill leaves one, and the next run removes it.
#[test]
fn protecting_opening_and_saving_with_named_temporary_files_killed_at_every_step_leave_nothing_the_next_run_keeps(
) {
    let total = protected_files(&[("FUDA_TMPFILE", "named")]);
    eprintln!("protected files, named temporary files: {total} kill points");
}

/// protect, open --out, export --out, save and a protected file's relabeling, each killed
/// before every step with `env`; returns the number of kills.
fn protected_files(env: &[(&str, &str)]) -> usize {
    // Under a policy with an organisation's recovery key, for `fuda recover`.
    let keys = tempfile::tempdir().unwrap();
    let (policy, recovery_key) = common::keyd::policy_with_recovery(keys.path());
    let user = User::new("tanaka");
    let init = ["init", "--name", "tanaka", "--dept", "設計部", "--policy"];
    fuda_ok(
        &user,
        keys.path(),
        &[&init[..], &[policy.to_str().unwrap()]].concat(),
    );
    let recovery_key = recovery_key.to_str().unwrap();
    let mut total = 0;
    let valid_at = |dir: &Path, name: &str, level: &str| -> Result<(), String> {
        match &labels(&user, dir, &[name])[0] {
            (s, Some(l)) if s == "valid" && l == level => Ok(()),
            other => Err(format!("{name}: label {other:?}, wanted valid {level}")),
        }
    };

    // protect: the original, or its protected copy that opens to it — never neither.
    let plain = secret("a");
    let original = |dir: &Path| put(dir, "a.txt", &plain);
    let protected = |dir: &Path| -> Result<(), String> {
        if opened(&user, dir, "a.txt.fuda")? != plain {
            return Err("a.txt.fuda opens to something else".into());
        }
        Ok(())
    };
    total += Case {
        name: "protect",
        user: &user,
        setup: &original,
        args: &["protect", "--level", "秘", "a.txt"],
        names: &["a.txt", "a.txt.fuda"],
        plaintext: &["a.txt"],
        check: &|dir| {
            match std::fs::read(dir.join("a.txt")) {
                Ok(bytes) if bytes == plain => {}
                Ok(_) => return Err("a.txt changed".into()),
                Err(_) => protected(dir)?,
            }
            if dir.join("a.txt.fuda").exists() {
                protected(dir)?;
            }
            Ok(!dir.join("a.txt").exists())
        },
        done: &|dir| {
            if dir.join("a.txt").exists() {
                return Err("the original is still there".into());
            }
            protected(dir)?;
            valid_at(dir, "a.txt.fuda", "confidential")
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();

    // One protected text and one protected Word document to open, export, save and relabel.
    let templates = tempfile::tempdir().unwrap();
    put(templates.path(), "s.txt", &plain);
    put(
        templates.path(),
        "x.docx",
        &office_fixture("python-docx.docx"),
    );
    fuda_ok(
        &user,
        templates.path(),
        &["protect", "--level", "秘", "s.txt", "x.docx"],
    );
    let sealed_txt = std::fs::read(templates.path().join("s.txt.fuda")).unwrap();
    let sealed_docx = std::fs::read(templates.path().join("x.docx.fuda")).unwrap();
    let sealed = |dir: &Path| {
        put(dir, "s.txt.fuda", &sealed_txt);
        put(dir, "x.docx.fuda", &sealed_docx);
    };
    // A plaintext output is complete and labeled, or not there at all.
    let output = |dir: &Path, name: &str| -> Result<bool, String> {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            return Ok(false);
        };
        if name.ends_with(".docx") {
            whole_package(&bytes).map_err(|e| format!("{name}: {e}"))?;
        } else if bytes != plain {
            return Err(format!("{name} is not the whole plaintext"));
        }
        valid_at(dir, name, "confidential")?;
        Ok(true)
    };
    let recover = [
        "recover",
        "s.txt.fuda",
        "--identity",
        recovery_key,
        "--out",
        "out.txt",
    ];
    for (name, args, out) in [
        (
            "open --out",
            &["open", "s.txt.fuda", "--out", "out.txt"][..],
            "out.txt",
        ),
        ("recover", &recover, "out.txt"),
        (
            "open --out (Word)",
            &["open", "x.docx.fuda", "--out", "out.docx"],
            "out.docx",
        ),
        (
            "export --out",
            &["export", "--out", "out.txt", "s.txt.fuda"],
            "out.txt",
        ),
    ] {
        total += Case {
            name,
            user: &user,
            setup: &sealed,
            args,
            names: &["s.txt.fuda", "x.docx.fuda", out, "next.docx"],
            plaintext: &[out],
            check: &|dir| output(dir, out),
            done: &|dir| {
                if output(dir, out)? {
                    Ok(())
                } else {
                    Err(format!("no {out}"))
                }
            },
            codes: &[0],
            next: &["open", "x.docx.fuda", "--out", "next.docx"],
            env,
        }
        .exercise();
    }

    // save: the protected file holds the old version or the new one; the working copy
    // goes only once the new one is in.
    let (v1, v2) = (secret("v1"), secret("v2"));
    let working = |dir: &Path| {
        put(dir, "a.txt", &v1);
        fuda_ok(&user, dir, &["protect", "--level", "秘", "a.txt"]);
        fuda_ok(&user, dir, &["open", "a.txt.fuda", "--out", "work.txt"]);
        put(dir, "work.txt", &v2);
    };
    total += Case {
        name: "save",
        user: &user,
        setup: &working,
        args: &["save", "work.txt", "--to", "a.txt.fuda"],
        names: &["a.txt.fuda", "work.txt"],
        plaintext: &["work.txt"],
        check: &|dir| {
            let now = opened(&user, dir, "a.txt.fuda")?;
            if now != v1 && now != v2 {
                return Err("a.txt.fuda holds neither version".into());
            }
            let work = dir.join("work.txt").exists();
            if !work && now != v2 {
                return Err("the working copy is gone but the new version is not in".into());
            }
            Ok(!work)
        },
        done: &|dir| {
            if opened(&user, dir, "a.txt.fuda")? != v2 {
                return Err("a.txt.fuda does not hold the new version".into());
            }
            if dir.join("work.txt").exists() {
                return Err("the working copy is still there".into());
            }
            Ok(())
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();

    // A protected file's label changed through the key service (its header rewritten).
    let fresh = |dir: &Path| {
        put(dir, "a.txt", &plain);
        fuda_ok(&user, dir, &["protect", "--level", "秘", "a.txt"]);
    };
    total += Case {
        name: "label set (protected file)",
        user: &user,
        setup: &fresh,
        // Without an organisation's policy the service asks a reason for any change.
        args: &["label", "set", "極秘", "--justify", "見直し", "a.txt.fuda"],
        names: &["a.txt.fuda"],
        plaintext: &[],
        check: &|dir| {
            protected(dir)?;
            valid_at(dir, "a.txt.fuda", "confidential")
                .or_else(|_| valid_at(dir, "a.txt.fuda", "strictly-confidential"))
                .map(|()| false)
        },
        done: &|dir| {
            protected(dir)?;
            valid_at(dir, "a.txt.fuda", "strictly-confidential")
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();
    total
}

#[test]
fn scanning_and_taking_the_inventory_killed_at_every_step_converge_on_the_next_run() {
    let env: &[(&str, &str)] = &[];
    if !user_xattrs() {
        return;
    }
    let user = User::init("tanaka");
    let texts: [(&str, &str); 4] = [
        ("k1.txt", "本資料は極秘です。取扱注意。\n"),
        ("k2.txt", "社外秘\n定例会議の議事録\n"),
        ("k3.txt", "営業部 社外秘 見積\n"),
        ("p.txt", "昼食の案内\n"),
    ];
    let mut names: Vec<&str> = texts.iter().map(|(n, _)| *n).collect();
    names.push("x.docx");
    let setup = |dir: &Path| {
        for (name, text) in texts {
            put(dir, name, text.as_bytes());
        }
        put(dir, "x.docx", &office_fixture("python-docx.docx"));
    };
    let texts_unchanged = |dir: &Path| -> Result<(), String> {
        for (name, text) in texts {
            if std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))? != text.as_bytes()
            {
                return Err(format!("{name} changed"));
            }
        }
        whole_package(&std::fs::read(dir.join("x.docx")).unwrap())
    };
    // What a clean run gives, learnt from the first one.
    let clean: std::cell::OnceCell<Vec<Seen>> = std::cell::OnceCell::new();
    let mut total = Case {
        name: "scan --apply",
        user: &user,
        setup: &setup,
        args: &["scan", "--apply", "."],
        names: &names,
        plaintext: &[],
        check: &|dir| {
            texts_unchanged(dir)?;
            let want = clean.get().expect("a clean run first");
            for ((seen, want), name) in labels(&user, dir, &names).iter().zip(want).zip(&names) {
                if seen.0 != "missing" && seen != want {
                    return Err(format!(
                        "{name}: label {seen:?}, a clean run gives {want:?}"
                    ));
                }
            }
            Ok(false)
        },
        done: &|dir| {
            texts_unchanged(dir)?;
            let seen = labels(&user, dir, &names);
            if seen.iter().any(|s| s.0 != "valid") {
                return Err(format!("labels {seen:?}"));
            }
            let want = clean.get_or_init(|| seen.clone());
            if &seen != want {
                return Err(format!("labels {seen:?}, a clean run gives {want:?}"));
            }
            Ok(())
        },
        codes: &[0],
        next: &[],
        env,
    }
    .exercise();

    let mut with_ledger = names.clone();
    with_ledger.push("ledger.xlsx");
    let ledger = |dir: &Path| -> Result<bool, String> {
        match std::fs::read(dir.join("ledger.xlsx")) {
            Ok(bytes) => whole_package(&bytes).map(|()| false),
            Err(_) => Ok(false),
        }
    };
    total += Case {
        name: "inventory --out",
        user: &user,
        setup: &setup,
        args: &["inventory", ".", "--out", "ledger.xlsx"],
        names: &with_ledger,
        plaintext: &[],
        check: &|dir| {
            texts_unchanged(dir)?;
            ledger(dir)
        },
        done: &|dir| {
            texts_unchanged(dir)?;
            if !dir.join("ledger.xlsx").exists() {
                return Err("no ledger".into());
            }
            ledger(dir).map(drop)
        },
        codes: &[0, 1],
        next: &[],
        env,
    }
    .exercise();
    eprintln!("scan and inventory: {total} kill points");
}

/// `fuda watch ROOT --memory MEMORY` as `user` with `env`, until it is killed at a crash
/// point or has reconciled the tree (logged `watching`; then stopped with SIGTERM).
/// Returns whether it was killed.
fn watch_once(user: &User, root: &Path, memory: &Path, env: &[(&str, &str)]) -> bool {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("watch.log");
    let mut child = Command::new(fuda_bin())
        .args(["watch", root.to_str().unwrap(), "--settle-ms", "200"])
        .arg("--memory")
        .arg(memory)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("FUDA_CRASH_AT")
        .env_remove("FUDA_CRASH_COUNT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start fuda watch");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert_eq!(
                status.signal(),
                Some(9),
                "fuda watch ended: {status}\n{text}"
            );
            return true;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("\"event\":\"watching\"") {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "fuda watch stopped: {status}\n{text}");
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "fuda watch never started:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_watchers_restores_killed_at_every_step_leave_the_edit_and_a_valid_label_or_none() {
    if !user_xattrs() {
        return;
    }
    let user = User::init("tanaka");
    let edited = secret("edited");
    // A labeled text and a labeled Word document, learnt by the watcher, then saved by an
    // editor by rename (a new file without the label): the watcher puts the labels back
    // when it starts again.
    let setup = |share: &Path, memory: &Path| {
        put(share, "a.txt", &secret("a"));
        put(share, "x.docx", &office_fixture("python-docx.docx"));
        fuda_ok(&user, share, &["label", "set", "秘", "a.txt", "x.docx"]);
        assert!(!watch_once(&user, share, memory, &[]));
        put(share, ".a.txt.swp", &edited);
        std::fs::rename(share.join(".a.txt.swp"), share.join("a.txt")).unwrap();
        put(share, ".x.docx.tmp", &office_fixture("python-docx.docx"));
        std::fs::rename(share.join(".x.docx.tmp"), share.join("x.docx")).unwrap();
    };
    let names = ["a.txt", "x.docx"];
    let check = |share: &Path, finished: bool| -> Result<(), String> {
        if std::fs::read(share.join("a.txt")).map_err(|e| e.to_string())? != edited {
            return Err("a.txt is not the editor's version".into());
        }
        whole_package(&std::fs::read(share.join("x.docx")).unwrap())?;
        for (name, seen) in names.iter().zip(labels(&user, share, &names)) {
            if finished && seen.0 != "valid" {
                return Err(format!("{name}: label {seen:?} not put back"));
            }
            absent_or_valid(&seen, &["confidential"]).map_err(|e| format!("{name}: {e}"))?;
        }
        if finished {
            tags_follow(share, "a.txt", Some("秘"))?;
        }
        let strays: Vec<String> = tree(share)
            .into_iter()
            .filter(|n| !names.contains(&n.as_str()) && (finished || !n.contains(".fuda-tmp-")))
            .collect();
        if !strays.is_empty() {
            return Err(format!("left behind {strays:?}"));
        }
        Ok(())
    };

    let fresh = || {
        let (share, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let memory = state.path().join("memory.sqlite");
        setup(share.path(), &memory);
        (share, state, memory)
    };
    let (share, _state, memory) = fresh();
    let list = user.home.path().join("watch-steps");
    assert!(!watch_once(
        &user,
        share.path(),
        &memory,
        &[("FUDA_CRASH_COUNT", list.to_str().unwrap())]
    ));
    let steps: Vec<String> = std::fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    check(share.path(), true).unwrap_or_else(|e| panic!("watch, clean run: {e}"));
    let mut kills = 0;
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let at = format!("watch: killed before step {n} of {} ({step})", steps.len());
        let (share, _state, memory) = fresh();
        let killed = watch_once(
            &user,
            share.path(),
            &memory,
            &[("FUDA_CRASH_AT", &n.to_string())],
        );
        if killed {
            kills += 1;
            check(share.path(), false).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(!watch_once(&user, share.path(), &memory, &[]));
        }
        check(share.path(), true).unwrap_or_else(|e| panic!("{at}, then started again: {e}"));
    }
    eprintln!(
        "watch restores: {kills} kill points of {} steps",
        steps.len()
    );
    assert!(kills >= 3, "only {kills} kill points");
}
