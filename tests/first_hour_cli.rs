//! End-to-end: what a new user meets in the first hour, each the way they met it — a
//! symbolic link, a folder that holds protected files, a protected copy already there.

mod common;

use common::{p, write, User};

#[test]
fn a_symbolic_link_is_named_as_one_instead_of_permission_denied_or_missing() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let real = dir.path().join("bracket.txt");
    write(&real, "bracket v3");
    let link = dir.path().join("latest.txt");
    std::os::unix::fs::symlink("bracket.txt", &link).unwrap();

    for args in [
        vec!["label", "set", "秘", p(&link)],
        vec!["label", "show", p(&link)],
    ] {
        let run = tanaka.fuda(&args).expect(2);
        assert!(
            run.stderr
                .contains("latest.txt: is a symbolic link to bracket.txt")
                && run.stderr.contains("give the file's own path"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("permission denied"), "{}", run.stderr);
    }
    assert_eq!(
        tanaka.show(&real)["status"],
        "missing",
        "nothing was labeled"
    );
}

#[test]
fn label_set_over_a_folder_skips_its_protected_files_with_one_note() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let drawing = dir.path().join("drawing.txt");
    write(&drawing, "bracket v3");
    tanaka
        .fuda(&["protect", p(&drawing), "--level", "秘"])
        .expect(0);
    let sealed = dir.path().join("drawing.txt.fuda");
    let before = std::fs::read(&sealed).unwrap();
    let memo = dir.path().join("memo.txt");
    write(&memo, "meeting notes");

    let run = tanaka
        .fuda(&["label", "set", "社外秘", "-r", p(dir.path())])
        .expect(0);
    assert!(
        run.stderr.contains("skipped 1 protected file (*.fuda)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--justify"), "{}", run.stderr);
    assert_eq!(tanaka.show(&memo)["level"], "internal");
    assert_eq!(std::fs::read(&sealed).unwrap(), before, "left as it was");
}

#[test]
fn protect_next_to_an_existing_protected_copy_says_what_to_do() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let plan = dir.path().join("plan.txt");
    write(&plan, "plan v2");
    write(&dir.path().join("plan.txt.fuda"), "an older protected copy");
    let run = tanaka
        .fuda(&["protect", p(&plan), "--level", "秘"])
        .expect(2);
    assert!(
        run.stderr
            .contains("plan.txt.fuda already exists and fuda never overwrites it: move, rename or remove it first"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("output path"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "plan v2");
}

#[test]
fn enrolling_without_a_service_needs_the_key_service_of_this_account() {
    let sato = User::new("sato");
    let run = sato
        .fuda(&["init", "--name", "sato", "--enroll", "fudaenroll_x"])
        .expect(2);
    assert!(
        run.stderr.contains("--enroll without --service")
            && run.stderr.contains("pass --service URL"),
        "{}",
        run.stderr
    );
    assert!(
        !sato.home.path().join(".config/fuda/config.toml").exists(),
        "nothing half made"
    );
}

#[test]
fn labeling_a_file_outside_its_levels_folders_says_where_it_belongs() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    // The default policy keeps 極秘 in 極秘 folders, or protected.
    let plan = dir.path().join("plan.txt");
    write(&plan, "new plant");
    let run = tanaka.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    assert!(
        run.stderr.contains(
            "the policy keeps 極秘 files in **/極秘/**, **/*.fuda (its allowed_locations)"
        ) && run.stderr.contains("outside-allowed-location"),
        "{}",
        run.stderr
    );
    // In its place, nothing to say.
    let kept = dir.path().join("極秘").join("plan.txt");
    write(&kept, "new plant");
    let run = tanaka.fuda(&["label", "set", "極秘", p(&kept)]).expect(0);
    assert!(!run.stderr.contains("allowed_locations"), "{}", run.stderr);
}

#[test]
fn the_owner_is_never_told_to_ask_the_owner() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let plan = dir.path().join("plan.txt");
    write(&plan, "new plant");
    let run = tanaka
        .fuda(&["protect", p(&plan), "--level", "秘", "--json"])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    let sealed = dir.path().join("plan.txt.fuda");
    // tanaka administers the embedded service and revokes his own access by mistake.
    tanaka
        .fuda(&["admin", "revoke", "--doc", &doc, "--user", "tanaka"])
        .expect(0);
    let run = tanaka.fuda(&["open", p(&sealed)]).expect(2);
    assert!(
        run.stderr.contains("although you own it") && run.stderr.contains("fuda admin unrevoke"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ask the owner"), "{}", run.stderr);
}

#[test]
fn levels_are_named_as_people_name_them_in_inspect_errors_and_desktop_tags() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let memo = dir.path().join("memo.txt");
    write(&memo, "memo");
    tanaka.fuda(&["label", "set", "極秘", p(&memo)]).expect(0);
    assert_eq!(
        xattr::get(&memo, "user.xdg.tags").unwrap().unwrap(),
        "極秘,Strictly confidential".as_bytes(),
        "file managers show the Japanese name"
    );
    let run = tanaka.fuda(&["label", "set", "公開", p(&memo)]).expect(2);
    assert!(
        run.stderr.contains("lowering the label from 極秘 to 公開"),
        "{}",
        run.stderr
    );
    let plan = dir.path().join("plan.txt");
    write(&plan, "plan");
    tanaka
        .fuda(&["protect", p(&plan), "--level", "極秘"])
        .expect(0);
    let run = tanaka
        .fuda(&["inspect", p(&dir.path().join("plan.txt.fuda"))])
        .expect(0);
    assert!(
        run.stdout
            .contains("label:    極秘 (Strictly confidential) (valid)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("strictly-confidential"),
        "{}",
        run.stdout
    );
    // A label by someone this user does not trust says so, not "(unknown key)".
    let sato = User::init("sato");
    let run = sato.fuda(&["label", "show", p(&memo)]).expect(0);
    assert!(
        run.stdout
            .contains("tanaka (untrusted: unknown or disabled)"),
        "{}",
        run.stdout
    );
}

/// A running `fuda watch ROOT --settle-ms 3000` whose JSON log is read back.
struct SlowWatch {
    child: std::process::Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SlowWatch {
    fn start(user: &User, root: &std::path::Path) -> SlowWatch {
        let dir = common::workdir();
        let log = dir.path().join("watch.log");
        let child = std::process::Command::new(common::fuda_bin())
            .args(["watch", p(root), "--settle-ms", "3000"])
            .env("HOME", user.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let w = SlowWatch {
            child,
            log,
            _dir: dir,
        };
        w.wait_for("watching", 60_000, |e| e["event"] == "watching");
        w
    }

    /// Waits at most `ms` for an event; false when none came.
    fn saw(&self, ms: u64, done: impl Fn(&serde_json::Value) -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|e| done(&e))
            {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn wait_for(&self, what: &str, ms: u64, done: impl Fn(&serde_json::Value) -> bool) {
        assert!(
            self.saw(ms, done),
            "no {what} within {ms} ms; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for SlowWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_label_set_just_before_an_editors_save_by_rename_is_put_back_by_the_watcher() {
    let tanaka = User::init("tanaka");
    let share = common::workdir();
    let plan = share.path().join("plan.txt");
    write(&plan, "plan v1");
    let watch = SlowWatch::start(&tanaka, share.path());
    let about_plan = |e: &serde_json::Value| e["path"] == common::jp(&plan);

    tanaka.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    // Learnt from the attribute change itself: well before the 3 s settle window ends.
    watch.wait_for("the label remembered at once", 1500, |e| {
        about_plan(e) && e["event"] == "remembered" && e["level"] == "strictly-confidential"
    });
    // The editor saves: a new file renamed over the old one, without the label.
    let tmp = share.path().join(".goutputstream-QX81");
    std::fs::write(&tmp, "plan v2").unwrap();
    std::fs::rename(&tmp, &plan).unwrap();
    watch.wait_for("the label restored", 60_000, |e| {
        about_plan(e) && e["event"] == "restored" && e["level"] == "strictly-confidential"
    });
    let shown = tanaka.show(&plan);
    assert_eq!(
        (
            shown["level"].as_str(),
            shown["method"].as_str(),
            shown["status"].as_str()
        ),
        (Some("strictly-confidential"), Some("manual"), Some("valid")),
        "{shown}"
    );
}

#[test]
fn the_first_person_to_classify_a_file_a_hook_labeled_becomes_its_owner() {
    let hook = User::init("fuda-hook");
    let tanaka = User::init("tanaka");
    let share = common::workdir();
    let memo = share.path().join("memo.txt");
    write(&memo, "lunch menu");
    hook.fuda(&["scan", "--apply", p(share.path())]).expect(0);
    let before = hook.show(&memo);
    assert_eq!(
        (before["owner"].as_str(), before["method"].as_str()),
        (Some("fuda-hook"), Some("default"))
    );
    tanaka.fuda(&["label", "set", "秘", p(&memo)]).expect(0);
    let after = tanaka.show(&memo);
    assert_eq!(after["owner"], "tanaka", "{after}");
    assert_eq!(after["doc"], before["doc"], "the same document: {after}");
}

#[test]
fn raising_a_protected_files_level_on_the_embedded_service_needs_no_reason_and_lowering_does() {
    // The embedded key service holds no organisation policy: it ranks the levels by the
    // built-in policy the labels are signed under.
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let minutes = dir.path().join("minutes.txt");
    write(&minutes, "社外秘 meeting");
    tanaka
        .fuda(&["protect", p(&minutes), "--level", "社外秘"])
        .expect(0);
    let sealed = dir.path().join("minutes.txt.fuda");

    let up = tanaka.fuda(&["label", "set", "極秘", p(&sealed)]).expect(0);
    assert!(!up.stderr.contains("justif"), "{}", up.stderr);
    assert_eq!(tanaka.show(&sealed)["level"], "strictly-confidential");

    let before = std::fs::read(&sealed).unwrap();
    let down = tanaka.fuda(&["label", "set", "公開", p(&sealed)]).expect(2);
    assert!(
        down.stderr.contains("lowering document") && down.stderr.contains("--justify"),
        "{}",
        down.stderr
    );
    assert_eq!(
        std::fs::read(&sealed).unwrap(),
        before,
        "the file is unchanged"
    );
    tanaka
        .fuda(&[
            "label",
            "set",
            "社外秘",
            p(&sealed),
            "--justify",
            "議事録は社外秘で足りる",
        ])
        .expect(0);
    assert_eq!(tanaka.show(&sealed)["level"], "internal");
}
