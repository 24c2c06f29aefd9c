//! End-to-end: labels that survive editing (issue 7). Real tools edit labeled files the
//! way users run them — `sed -i`, `vim -es`, LibreOffice headless saving over the same
//! name, `cp` from a backup, `rsync` and `tar` without their xattr options. Without
//! `fuda watch` the tools that replace the file strip the label and `fuda inventory
//! --since` lists it as `label-disappeared`; with the watcher running every file ends
//! with its original level and document id and the ledger says `label-restored`.
//!
//! The outcome of each tool without the watcher is asserted here and is the table
//! "Which tools keep labels" in docs/file-server.md.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{jp, p, write, User};

/// How users change a labeled file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    /// `sed -i s/…/…/ FILE`: writes a temporary file and renames it over.
    Sed,
    /// `vim -es` with the user's defaults (no `-u`): substitute, `wq`.
    Vim,
    /// LibreOffice saving an edited copy over the file (`--convert-to txt:Text`).
    SofficeTxt,
    /// LibreOffice saving an edited copy of a document over it (`--convert-to docx`).
    SofficeDocx,
    /// `cp FILE backup; rm FILE; cp backup FILE`: restoring from a copy.
    CpRestore,
    /// `cp other FILE` over the existing file.
    CpOver,
    /// `rsync -a` the folder out, edit there, `rsync -a` it back (no `-X`). (A file whose
    /// size and modification time did not change is skipped by rsync and keeps its label.)
    Rsync,
    /// `tar c` the file, `tar x` it over itself (no `--xattrs`).
    Tar,
}

const TOOLS: [Tool; 8] = [
    Tool::Sed,
    Tool::Vim,
    Tool::SofficeTxt,
    Tool::SofficeDocx,
    Tool::CpRestore,
    Tool::CpOver,
    Tool::Rsync,
    Tool::Tar,
];

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Sed => "sed",
            Tool::Vim => "vim",
            Tool::SofficeTxt => "soffice-txt",
            Tool::SofficeDocx => "soffice-docx",
            Tool::CpRestore => "cp-restore",
            Tool::CpOver => "cp-over",
            Tool::Rsync => "rsync",
            Tool::Tar => "tar",
        }
    }

    fn file(self) -> String {
        match self {
            Tool::SofficeDocx => format!("{}.docx", self.name()),
            _ => format!("{}.txt", self.name()),
        }
    }

    /// What the tool does to the file's label without the watcher (measured; the docs
    /// table): `Kept` (same file written in place, or an embedded label LibreOffice
    /// carries over) or `Lost` (a new file replaced it).
    fn without_watcher(self) -> Outcome {
        match self {
            Tool::Vim | Tool::CpOver => Outcome::Kept,
            Tool::SofficeDocx => Outcome::KeptStale,
            _ => Outcome::Lost,
        }
    }

    fn available(self) -> bool {
        let (bin, arg) = match self {
            Tool::Vim => ("vim", "--version"),
            Tool::SofficeTxt | Tool::SofficeDocx => ("soffice", "--version"),
            Tool::Rsync => ("rsync", "--version"),
            Tool::Tar => ("tar", "--version"),
            _ => return true,
        };
        let ok = Command::new(bin)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        common::require_tool(bin, ok)
    }

    /// Runs the tool on `file` as `user`, with `scratch` for its copies.
    fn run(self, user: &User, file: &Path, scratch: &Path) {
        let dir = file.parent().unwrap();
        let name = file.file_name().unwrap();
        let copy = scratch.join(name);
        let sh = |script: &str, args: &[&Path]| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script).arg("sh");
            for a in args {
                cmd.arg(a);
            }
            let out = cmd
                .env("HOME", user.home.path())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{:?} failed: {}{}",
                self,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        match self {
            Tool::Sed => sh("sed -i 's/draft/final/' \"$1\"", &[file]),
            Tool::Vim => sh("vim -es -c '%s/draft/final/' -c wq \"$1\"", &[file]),
            Tool::SofficeTxt => {
                std::fs::copy(file, &copy).unwrap();
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&copy)
                    .unwrap();
                f.write_all("追記\n".as_bytes()).unwrap();
                sh(
                    "soffice --headless --convert-to txt:Text --outdir \"$1\" \"$2\"",
                    &[dir, &copy],
                );
            }
            Tool::SofficeDocx => {
                std::fs::copy(file, &copy).unwrap();
                sh(
                    "soffice --headless --convert-to docx --outdir \"$1\" \"$2\"",
                    &[dir, &copy],
                );
            }
            Tool::CpRestore => sh(
                "cp \"$1\" \"$2\" && rm \"$1\" && cp \"$2\" \"$1\"",
                &[file, &copy],
            ),
            Tool::CpOver => {
                write(&copy, "final version\n");
                sh("cp \"$2\" \"$1\"", &[file, &copy]);
            }
            Tool::Rsync => {
                let out = scratch.join("rsync");
                sh(
                    "rsync -a \"$1/\" \"$2/\" && sed -i 's/draft/final version/' \"$2/$3\" && rsync -a \"$2/\" \"$1/\"",
                    &[dir, &out, Path::new(name)],
                );
            }
            Tool::Tar => {
                let tar = scratch.join("t.tar");
                sh(
                    "tar cf \"$2\" -C \"$1\" \"$3\" && tar xf \"$2\" -C \"$1\"",
                    &[dir, &tar, Path::new(name)],
                );
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Kept,
    KeptStale,
    Lost,
}

fn docx(body: &str) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("[Content_Types].xml", o).unwrap();
    z.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>").unwrap();
    z.start_file("_rels/.rels", o).unwrap();
    z.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>").unwrap();
    z.start_file("word/document.xml", o).unwrap();
    z.write_all(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>{body}</w:t></w:r></w:p></w:body></w:document>").as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

/// Creates the file a tool will edit and labels it 秘 (confidential) by hand; returns its
/// document id.
fn labeled(user: &User, dir: &Path, tool: Tool) -> (PathBuf, String) {
    let path = dir.join(tool.file());
    match tool {
        Tool::SofficeDocx => write(&path, docx("設計仕様 draft")),
        _ => write(&path, "設計仕様 draft\n"),
    }
    user.fuda(&["label", "set", "confidential", p(&path)])
        .expect(0);
    let doc = label_of(user, &path).1.expect("labeled");
    (path, doc)
}

/// `(status, doc, level)` of a file's label as `fuda label check --json` reports it.
fn label_of(user: &User, path: &Path) -> (String, Option<String>, Option<String>) {
    let run = user.fuda(&["label", "check", "--json", p(path)]);
    let v = run
        .json_lines()
        .into_iter()
        .next()
        .expect("one line per file");
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    (s("status").unwrap(), s("doc"), s("level"))
}

/// `fuda inventory ROOT --format json --out -` with extra arguments.
fn inventory(user: &User, root: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inventory", p(root), "--format", "json", "--out", "-"];
    args.extend_from_slice(extra);
    let run = user.fuda(&args);
    assert!(run.code == 0 || run.code == 1, "inventory: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("inventory JSON")
}

fn findings_of<'a>(
    inv: &'a serde_json::Value,
    kind: &str,
    path: &Path,
) -> Vec<&'a serde_json::Value> {
    inv["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind && f["path"] == jp(path))
        .collect()
}

/// A running `fuda watch` with its label memory in a chosen file; SIGTERM on stop.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(user: &User, root: &Path, memory: &Path, log: &Path) -> Watch {
        let child = Command::new(common::fuda_bin())
            .args([
                "watch",
                p(root),
                "--settle-ms",
                "200",
                "--memory",
                p(memory),
            ])
            .env("HOME", user.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start fuda watch");
        let w = Watch {
            child,
            log: log.to_owned(),
        };
        w.wait_for("watching", |e| e["event"] == "watching");
        w
    }

    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.events().iter().any(&done) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "fuda watch exit");
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools() -> Vec<Tool> {
    TOOLS.into_iter().filter(|t| t.available()).collect()
}

#[test]
fn without_the_watcher_tools_that_replace_a_file_strip_its_label_and_the_ledger_says_so() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let tools = tools();
    for &tool in &tools {
        let root = work.path().join(tool.name()).join("share");
        let scratch = work.path().join(tool.name()).join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let (file, doc) = labeled(&user, &root, tool);
        let before = work.path().join(format!("{}-before.json", tool.name()));
        std::fs::write(&before, inventory(&user, &root, &[]).to_string()).unwrap();

        tool.run(&user, &file, &scratch);

        let (status, now_doc, level) = label_of(&user, &file);
        let after = inventory(&user, &root, &["--since", p(&before)]);
        let lost = findings_of(&after, "label-disappeared", &file);
        match tool.without_watcher() {
            Outcome::Lost => {
                assert_eq!(status, "missing", "{tool:?} should strip the xattr label");
                assert_eq!(
                    lost.len(),
                    1,
                    "{tool:?}: the ledger lists the lost label: {after:#}"
                );
                assert_eq!(lost[0]["level"], "confidential");
            }
            Outcome::Kept | Outcome::KeptStale => {
                let expected = if tool.without_watcher() == Outcome::Kept {
                    "valid"
                } else {
                    "stale"
                };
                // Content changed, so an xattr label kept in place is stale too.
                assert!(
                    status == expected || status == "stale",
                    "{tool:?}: label {status}"
                );
                assert_eq!(
                    now_doc.as_deref(),
                    Some(doc.as_str()),
                    "{tool:?} keeps the doc id"
                );
                assert_eq!(level.as_deref(), Some("confidential"));
                assert!(lost.is_empty(), "{tool:?}: {after:#}");
            }
        }
    }
}

#[test]
fn with_the_watcher_every_file_keeps_its_level_and_doc_id() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let root = work.path().join("share");
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let memory = work.path().join("state").join("memory.sqlite");
    let log = work.path().join("watch.log");
    let tools = tools();
    let files: Vec<(Tool, PathBuf, String)> = tools
        .iter()
        .map(|&t| {
            let (f, doc) = labeled(&user, &root, t);
            (t, f, doc)
        })
        .collect();
    // A document labeled lower, to be renamed over a 秘 document: a downgrade.
    let high = root.join("spec.docx");
    write(&high, docx("仕様"));
    user.fuda(&["label", "set", "confidential", p(&high)])
        .expect(0);
    let high_doc = label_of(&user, &high).1.unwrap();
    let low = scratch.join("spec.docx");
    write(&low, docx("仕様 改"));
    user.fuda(&["label", "set", "internal", p(&low)]).expect(0);

    let watch = Watch::start(&user, &root, &memory, &log);
    for (tool, file, _) in &files {
        tool.run(&user, file, &scratch);
        // One save at a time, as people work: wait until the watcher dealt with it.
        if tool.without_watcher() == Outcome::Lost {
            watch.wait_for(tool.name(), |e| {
                e["event"] == "restored" && e["path"] == jp(file)
            });
        }
    }
    std::fs::rename(&low, &high).unwrap();
    watch.wait_for("downgrade", |e| {
        e["event"] == "downgrade-flagged" && e["path"] == jp(&high)
    });
    watch.wait_for("restore of spec.docx", |e| {
        e["event"] == "restored" && e["path"] == jp(&high)
    });
    watch.stop();

    for (tool, file, doc) in &files {
        let (status, now_doc, level) = label_of(&user, file);
        assert_eq!(level.as_deref(), Some("confidential"), "{tool:?}");
        assert_eq!(
            now_doc.as_deref(),
            Some(doc.as_str()),
            "{tool:?} keeps its doc id"
        );
        if tool.without_watcher() == Outcome::Lost {
            // Restored and signed for the content as it is now.
            assert_eq!(status, "valid", "{tool:?}");
        }
    }
    let (status, now_doc, level) = label_of(&user, &high);
    assert_eq!(
        (status.as_str(), now_doc.as_deref(), level.as_deref()),
        ("valid", Some(high_doc.as_str()), Some("confidential")),
        "the higher label wins over the lower one the new content carried"
    );
    assert!(
        std::fs::read(&high).unwrap().len() > 100,
        "the replacing document is still there"
    );

    let inv = inventory(&user, &root, &["--memory", p(&memory)]);
    for (tool, file, _) in &files {
        let restored = findings_of(&inv, "label-restored", file);
        let want = usize::from(tool.without_watcher() == Outcome::Lost);
        assert_eq!(restored.len(), want, "{tool:?}: {inv:#}");
        assert!(findings_of(&inv, "label-disappeared", file).is_empty());
        if want == 1 {
            assert_eq!(restored[0]["severity"], "low");
            assert!(restored[0]["detail"].as_str().unwrap().contains("at 20"));
        }
    }
    let flagged = findings_of(&inv, "label-restored", &high);
    assert_eq!(flagged.len(), 1, "{inv:#}");
    assert!(flagged[0]["detail"]
        .as_str()
        .unwrap()
        .contains("lower label (Internal)"));
}

#[test]
fn the_memory_survives_a_restart_and_reports_labels_removed_in_place() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let root = work.path().join("share");
    let memory = work.path().join("memory.sqlite");
    let log = work.path().join("watch.log");
    let (edited, doc) = labeled(&user, &root, Tool::Sed);
    let stripped = root.join("stripped.txt");
    write(&stripped, "設計仕様\n");
    user.fuda(&["label", "set", "strictly-confidential", p(&stripped)])
        .expect(0);
    let moved_from = root.join("before.txt");
    write(&moved_from, "設計仕様 move\n");
    user.fuda(&["label", "set", "internal", p(&moved_from)])
        .expect(0);
    let moved_doc = label_of(&user, &moved_from).1.unwrap();

    // The first run learns the labels.
    Watch::start(&user, &root, &memory, &log).stop();

    // While it is stopped: a save by rename, a move inside the tree.
    Tool::Sed.run(&user, &edited, work.path());
    assert_eq!(label_of(&user, &edited).0, "missing");
    let moved_to = root.join("sub").join("after.txt");
    std::fs::create_dir_all(moved_to.parent().unwrap()).unwrap();
    std::fs::rename(&moved_from, &moved_to).unwrap();

    let watch = Watch::start(&user, &root, &memory, &log);
    let (status, now_doc, level) = label_of(&user, &edited);
    assert_eq!(
        (status.as_str(), now_doc.as_deref(), level.as_deref()),
        ("valid", Some(doc.as_str()), Some("confidential")),
        "restored when the watcher started again"
    );
    assert!(watch.events().iter().any(|e| e["event"] == "restored"
        && e["path"] == jp(&edited)
        && e["cause"].as_str().unwrap().contains("not looking")));
    assert_eq!(
        label_of(&user, &moved_to).1.as_deref(),
        Some(moved_doc.as_str())
    );

    // A label taken off the very same file is not put back, but reported.
    xattr::remove(&stripped, "user.fuda.label").unwrap();
    watch.wait_for("lost", |e| {
        e["event"] == "lost" && e["path"] == jp(&stripped)
    });
    watch.stop();
    assert_eq!(label_of(&user, &stripped).0, "missing");

    let inv = inventory(&user, &root, &["--memory", p(&memory)]);
    let lost = findings_of(&inv, "label-disappeared", &stripped);
    assert_eq!(lost.len(), 1, "{inv:#}");
    assert_eq!(lost[0]["level"], "strictly-confidential");
    assert!(lost[0]["detail"].as_str().unwrap().contains("in place"));
    assert_eq!(findings_of(&inv, "label-restored", &edited).len(), 1);
    // The moved file is known under its new name only.
    assert!(findings_of(&inv, "label-disappeared", &moved_to).is_empty());
}

#[test]
fn inventory_with_a_missing_memory_file_fails_clearly() {
    let user = User::init("tanaka");
    let work = common::workdir();
    write(&work.path().join("a.txt"), "x");
    let missing = work.path().join("nope.sqlite");
    let run = user.fuda(&[
        "inventory",
        p(work.path()),
        "--format",
        "json",
        "--out",
        "-",
        "--memory",
        p(&missing),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("nope.sqlite") && run.stderr.contains("fuda watch --memory"),
        "{}",
        run.stderr
    );
    assert!(!missing.exists(), "nothing created");
}

#[test]
fn the_office_save_dance_and_a_trip_outside_the_tree_keep_the_label() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let root = work.path().join("share");
    let memory = work.path().join("memory.sqlite");
    let log = work.path().join("watch.log");
    let csv = root.join("顧客一覧.csv");
    write(&csv, "氏名,部署\n田中,設計部\n");
    user.fuda(&["label", "set", "confidential", p(&csv)])
        .expect(0);
    let csv_doc = label_of(&user, &csv).1.unwrap();
    let trip = root.join("drawing.txt");
    write(&trip, "図面メモ\n");
    user.fuda(&["label", "set", "strictly-confidential", p(&trip)])
        .expect(0);
    let trip_doc = label_of(&user, &trip).1.unwrap();

    let watch = Watch::start(&user, &root, &memory, &log);
    // Excel over SMB: new content to ~WRD0000.tmp, the document renamed away to
    // ~WRL0001.tmp, the new content renamed onto the name, the old copy deleted.
    let new = root.join("~WRD0000.tmp");
    let old = root.join("~WRL0001.tmp");
    write(&new, "氏名,部署\n田中,設計部\n佐藤,品質保証部\n");
    std::fs::rename(&csv, &old).unwrap();
    std::fs::rename(&new, &csv).unwrap();
    std::fs::remove_file(&old).unwrap();
    watch.wait_for("csv restore", |e| {
        e["event"] == "restored" && e["path"] == jp(&csv)
    });
    // Moved out to a place without the label (another file system, a USB stick), and back.
    let away = work.path().join("drawing.txt");
    std::fs::rename(&trip, &away).unwrap();
    xattr::remove(&away, "user.fuda.label").unwrap();
    std::fs::rename(&away, &trip).unwrap();
    watch.wait_for("trip restore", |e| {
        e["event"] == "restored" && e["path"] == jp(&trip)
    });
    watch.stop();

    assert_eq!(
        label_of(&user, &csv),
        ("valid".into(), Some(csv_doc), Some("confidential".into()))
    );
    assert_eq!(
        label_of(&user, &trip),
        (
            "valid".into(),
            Some(trip_doc),
            Some("strictly-confidential".into())
        )
    );
    assert!(std::fs::read_to_string(&csv).unwrap().contains("佐藤"));
}

#[test]
fn the_watcher_puts_the_newer_label_back_when_an_older_one_is_written_over_it() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let root = work.path().join("share");
    let memory = work.path().join("memory.sqlite");
    let log = work.path().join("watch.log");
    // The plan was 公開 once (and someone kept that label's xattr), then became 極秘.
    let plan = root.join("plan.txt");
    write(&plan, "来期の製品計画\n");
    user.fuda(&["label", "set", "public", p(&plan)]).expect(0);
    let saved = xattr::get(&plan, "user.fuda.label").unwrap().unwrap();
    user.fuda(&["label", "set", "strictly-confidential", p(&plan)])
        .expect(0);
    let doc = label_of(&user, &plan).1.unwrap();

    let watch = Watch::start(&user, &root, &memory, &log);
    // The old 公開 label is written back in place (`setfattr -n user.fuda.label`).
    xattr::set(&plan, "user.fuda.label", &saved).unwrap();
    watch.wait_for("replayed", |e| {
        e["event"] == "replayed" && e["path"] == jp(&plan)
    });
    let (status, now_doc, level) = label_of(&user, &plan);
    assert_eq!(
        (status.as_str(), now_doc.as_deref(), level.as_deref()),
        ("valid", Some(doc.as_str()), Some("strictly-confidential")),
        "the remembered, newer label is back"
    );
    watch.stop();

    let inv = inventory(&user, &root, &["--memory", p(&memory)]);
    let replayed = findings_of(&inv, "replayed", &plan);
    assert_eq!(replayed.len(), 1, "{inv:#}");
    assert_eq!(replayed[0]["level"], "strictly-confidential");
    assert!(
        replayed[0]["detail"].as_str().unwrap().contains("(Public)"),
        "{inv:#}"
    );
}

#[test]
fn the_yearly_review_reports_an_older_label_written_back_as_replayed() {
    let user = User::init("tanaka");
    let work = common::workdir();
    let root = work.path().join("share");
    let plan = root.join("plan.txt");
    write(&plan, "来期の製品計画\n");
    user.fuda(&["label", "set", "public", p(&plan)]).expect(0);
    let saved = xattr::get(&plan, "user.fuda.label").unwrap().unwrap();
    user.fuda(&["label", "set", "strictly-confidential", p(&plan)])
        .expect(0);
    // Last year's inventory saw the plan as 極秘.
    let last_year = work.path().join("last-year.json");
    std::fs::write(
        &last_year,
        serde_json::to_vec(&inventory(&user, &root, &[])).unwrap(),
    )
    .unwrap();

    // The old 公開 label is written back: valid on its own …
    xattr::set(&plan, "user.fuda.label", &saved).unwrap();
    assert_eq!(label_of(&user, &plan).0, "valid");
    // … but older than what the previous inventory saw on the file.
    let inv = inventory(&user, &root, &["--since", p(&last_year)]);
    let replayed = findings_of(&inv, "replayed", &plan);
    assert_eq!(replayed.len(), 1, "{inv:#}");
    assert_eq!(replayed[0]["severity"], "high", "{inv:#}");
    let reclassified = inv["review"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "reclassified")
        .count();
    assert_eq!(
        reclassified, 0,
        "a replay is not a reclassification: {inv:#}"
    );
}
