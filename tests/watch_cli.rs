//! End-to-end: `fuda watch` runs as its own process on a share and labels every file that
//! lands there — written at once, in new folders, moved in, or written slowly in pieces —
//! and survives losing events by rescanning.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::watch::Watch;
use common::{jp, p, path_of, write, User};
use fuda_core::label::compact;

/// The level a file's xattr label has, if any.
fn xattr_level(path: &Path) -> Option<String> {
    let bytes = xattr::get(path, "user.fuda.label").ok()??;
    Some(compact::decode(&bytes).ok()?.label.level)
}

/// The level a file should get and how (`auto`: a rule; `default`: no rule matched, the
/// policy's default level); `None`: no label at all.
type Want = Option<(&'static str, &'static str)>;

/// Text for a file, and the label the default policy gives it.
fn content(i: usize) -> (String, Want) {
    match i % 5 {
        0 => (
            format!("報告書 {i}: 極秘"),
            Some(("strictly-confidential", "auto")),
        ),
        1 => (format!("議事録 {i}: 社外秘"), Some(("internal", "auto"))),
        2 => (format!("仕様 {i}: 【秘】"), Some(("confidential", "auto"))),
        3 => (
            format!("Strictly Confidential memo {i}"),
            Some(("strictly-confidential", "auto")),
        ),
        // No rule matches: every file still gets a level, the policy's default.
        _ => (format!("雑記 {i}"), Some(("internal", "default"))),
    }
}

/// Writes `text` in pieces through one open handle, pausing between pieces; the last
/// piece holds the marking that decides the level.
fn write_slowly(path: &Path, pieces: usize, pause: Duration) {
    let mut f = std::fs::File::create(path).unwrap();
    for k in 0..pieces {
        f.write_all(format!("社外秘の下書き {k}\n").as_bytes())
            .unwrap();
        f.flush().unwrap();
        std::thread::sleep(pause);
    }
    f.write_all("最終版: 極秘\n".as_bytes()).unwrap();
}

struct Expect {
    files: HashMap<PathBuf, Want>,
    slow: Vec<PathBuf>,
}

/// Creates 1,000 files the ways a share receives them; returns what each should become.
fn land_files(root: &Path, outside: &Path) -> Expect {
    let mut files = HashMap::new();
    let mut n = 0;
    // 600 files written at once into folders that exist.
    for i in 0..600 {
        let (text, level) = content(i);
        let path = root
            .join(format!("team{}", i % 4))
            .join(format!("doc{i:04}.txt"));
        std::fs::write(&path, text).unwrap();
        files.insert(path, level);
        n += 1;
    }
    // 150 in new subdirectories, some of them nested.
    for i in 600..750 {
        let (text, level) = content(i);
        let dir = root
            .join(format!("new{}", i % 7))
            .join(format!("sub{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("doc{i:04}.txt"));
        std::fs::write(&path, text).unwrap();
        files.insert(path, level);
        n += 1;
    }
    // 100 moved in one by one, and a folder of 50 moved in whole.
    for i in 750..850 {
        let (text, level) = content(i);
        let tmp = outside.join(format!("incoming{i}.txt"));
        std::fs::write(&tmp, text).unwrap();
        let path = root
            .join(format!("team{}", i % 4))
            .join(format!("moved{i:04}.txt"));
        std::fs::rename(&tmp, &path).unwrap();
        files.insert(path, level);
        n += 1;
    }
    let batch = outside.join("batch");
    std::fs::create_dir_all(batch.join("inner")).unwrap();
    let mut batch_files = Vec::new();
    for i in 850..900 {
        let (text, level) = content(i);
        let rel = if i % 2 == 0 {
            PathBuf::from(format!("b{i}.txt"))
        } else {
            PathBuf::from(format!("inner/b{i}.txt"))
        };
        std::fs::write(batch.join(&rel), text).unwrap();
        batch_files.push((rel, level));
        n += 1;
    }
    std::fs::rename(&batch, root.join("batch")).unwrap();
    for (rel, level) in batch_files {
        files.insert(root.join("batch").join(rel), level);
    }
    // 10 drawings and 10 Office documents.
    for i in 900..910 {
        let path = root.join("設計図").join(format!("part{i}.dwg"));
        std::fs::write(&path, b"AC1032\0drawing").unwrap();
        files.insert(path, Some(("confidential", "auto")));
        n += 1;
    }
    for i in 910..920 {
        let path = root.join("team0").join(format!("memo{i}.docx"));
        std::fs::write(&path, docx("社外秘 会議資料")).unwrap();
        files.insert(path, Some(("internal", "auto")));
        n += 1;
    }
    // 80 written slowly in pieces, all at the same time.
    let slow: Vec<PathBuf> = (920..1000)
        .map(|i| {
            root.join(format!("team{}", i % 4))
                .join(format!("slow{i}.txt"))
        })
        .collect();
    std::thread::scope(|s| {
        for path in &slow {
            s.spawn(|| write_slowly(path, 5, Duration::from_millis(150)));
        }
    });
    for path in &slow {
        files.insert(path.clone(), Some(("strictly-confidential", "auto")));
        n += 1;
    }
    assert_eq!(n, 1000);
    // Editor and office temporaries are never labeled.
    for name in ["~$memo910.docx", ".~lock.memo910.docx#", "autosave.tmp"] {
        let path = root.join("team0").join(name);
        std::fs::write(&path, "極秘").unwrap();
        files.insert(path, None);
    }
    Expect { files, slow }
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

/// Waits until every non-Office file that should be labeled has its xattr label, then
/// checks every file through `fuda label show`.
fn assert_all_labeled(user: &User, watch: &Watch, root: &Path, expect: &Expect) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let missing: Vec<&PathBuf> = expect
            .files
            .iter()
            .filter(|(p, l)| {
                l.is_some()
                    && p.extension().is_some_and(|e| e != "docx")
                    && xattr_level(p).as_deref() != l.map(|(level, _)| level)
            })
            .map(|(p, _)| p)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} files not labeled as expected, e.g. {:?}; log tail:\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            watch
                .events()
                .iter()
                .rev()
                .take(20)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Office documents are rewritten with the label inside; give them the same time.
    std::thread::sleep(Duration::from_millis(1500));
    let shown = user.fuda(&["label", "show", "--json", "-r", p(root)]);
    let by_path: HashMap<PathBuf, serde_json::Value> = shown
        .json_lines()
        .into_iter()
        .map(|v| (path_of(&v["path"]), v))
        .collect();
    for (path, level) in &expect.files {
        if level.is_none() {
            // Unlabeled; `~$x.docx` owner files are not even valid zips, so only the xattr
            // is checked for them.
            assert_eq!(xattr_level(path), None, "{}", path.display());
            if let Some(v) = by_path.get(path) {
                assert_eq!(v["status"], "missing", "{v}");
            }
            continue;
        }
        let v = by_path
            .get(path)
            .unwrap_or_else(|| panic!("{} not shown", path.display()));
        match level {
            Some((level, method)) => {
                assert_eq!(v["level"], *level, "{v}");
                // Valid, not stale: the label covers the file's final content.
                assert_eq!(v["status"], "valid", "{v}");
                assert_eq!(v["method"], *method, "{v}");
            }
            None => assert_eq!(v["status"], "missing", "{v}"),
        }
    }
    // No file written slowly was labeled before its last write: each has exactly one
    // `labeled` event, at the level only its last piece gives.
    let events = watch.events();
    for path in &expect.slow {
        let labeled: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["event"] == "labeled" && e["path"] == jp(path))
            .collect();
        assert_eq!(labeled.len(), 1, "{}: {labeled:?}", path.display());
        assert_eq!(labeled[0]["level"], "strictly-confidential");
    }
}

fn setup() -> (User, tempfile::TempDir, tempfile::TempDir) {
    let hook = User::init("fuda-hook");
    let share = common::workdir();
    // Moves must stay on one file system: put the outside folder beside the share.
    let outside = tempfile::tempdir_in(share.path().parent().unwrap()).unwrap();
    for d in ["team0", "team1", "team2", "team3", "設計図"] {
        std::fs::create_dir_all(share.path().join(d)).unwrap();
    }
    (hook, share, outside)
}

#[test]
fn every_file_that_lands_on_the_share_gets_its_label() {
    let (hook, share, outside) = setup();
    let root = share.path();
    // Files already on the share are reconciled at start; a manual label stays.
    write(&root.join("team1").join("old-report.txt"), "極秘の報告");
    let manual = root.join("team1").join("decided.txt");
    write(&manual, "社外秘");
    hook.fuda(&["label", "set", "公開", p(&manual)]).expect(0);

    let watch = Watch::start(&hook, root, None);
    assert_eq!(
        xattr_level(&root.join("team1").join("old-report.txt")).as_deref(),
        Some("strictly-confidential")
    );

    let mut expect = land_files(root, outside.path());
    expect.files.insert(
        root.join("team1").join("old-report.txt"),
        Some(("strictly-confidential", "auto")),
    );
    assert_all_labeled(&hook, &watch, root, &expect);
    assert_eq!(
        xattr_level(&manual).as_deref(),
        Some("public"),
        "manual labels stay"
    );

    let (code, events) = watch.stop();
    assert_eq!(code, 0, "clean exit on SIGTERM");
    assert!(events.iter().any(|e| e["event"] == "stopped"));
    assert!(!events.iter().any(|e| e["event"] == "failed"), "{events:?}");
    // Its own label writes did not make it label any file twice.
    let mut seen = HashMap::new();
    for e in events.iter().filter(|e| e["event"] == "labeled") {
        *seen.entry(path_of(&e["path"])).or_insert(0) += 1;
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "{:?}",
        seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}

#[test]
fn a_lost_event_queue_is_reported_and_recovered_by_rescanning() {
    // A tiny internal queue (FUDA_WATCH_QUEUE) overflows under a burst, exactly as the
    // kernel queue (fs.inotify.max_queued_events) does on a busy share.
    let (hook, share, outside) = setup();
    let root = share.path();
    let watch = Watch::start(&hook, root, Some(8));
    let expect = land_files(root, outside.path());
    assert_all_labeled(&hook, &watch, root, &expect);
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    assert!(
        events.iter().any(|e| e["event"] == "overflow"),
        "overflow reported"
    );
    assert!(
        events.iter().any(|e| e["event"] == "rescanned"),
        "and rescanned"
    );
}

#[test]
fn its_own_reading_and_labeling_at_start_never_overflow_the_event_queue() {
    // A share that already holds many files: at start the watcher reads every one and
    // labels most. Those are its own events; a queue they filled would be taken for lost
    // events and send it rescanning the whole share (on a real share, over and over).
    let (hook, share, _outside) = setup();
    let root = share.path();
    let mut expect = HashMap::new();
    for i in 0..3000 {
        let (text, level) = content(i);
        let path = root
            .join(format!("team{}", i % 4))
            .join(format!("old{i:04}.txt"));
        write(&path, &text);
        expect.insert(path, level.map(|(l, _)| l));
    }
    // A queue of 256 events against 3,000 opens and 3,000 label writes.
    let watch = Watch::start(&hook, root, Some(256));
    // Started, reconciled and watching: every file carries its label already.
    for (path, level) in &expect {
        assert_eq!(xattr_level(path).as_deref(), *level, "{}", path.display());
    }
    // Its event thread waits for a free core instead of preempting the workers at each of
    // those events (SCHED_BATCH), at the niceness the watcher was started with.
    let threads = watch.threads();
    let events_thread = threads.iter().find(|(name, ..)| name.starts_with("notify"));
    let main_thread = threads.iter().find(|(name, ..)| name == "fuda").unwrap();
    assert_eq!(
        events_thread.map(|(_, policy, nice)| (*policy, *nice)),
        Some((3, main_thread.2)),
        "{threads:?}"
    );
    // The echoes of its label writes come back (and are dropped) while it watches.
    std::thread::sleep(Duration::from_millis(1500));
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    let lost: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "overflow" || e["event"] == "rescanned")
        .collect();
    assert!(
        lost.is_empty(),
        "its own work overflowed the queue: {lost:?}"
    );
    let reconciled = events.iter().find(|e| e["event"] == "reconciled").unwrap();
    assert_eq!(reconciled["files"], 3000);
    let labeled = events.iter().filter(|e| e["event"] == "labeled").count();
    assert_eq!(labeled, 3000, "each file labeled once");
}
