//! The engine as a file server sees it: events in, decisions out, no inotify and no binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use fuda_core::identity::Identity;
use fuda_core::label::Method;
use fuda_core::labeling::{Labeler, SetRequest, StorePreference};
use fuda_core::policy::Policy;
use fuda_core::trust::{SignerKind, TrustStore};

use super::*;
use crate::rules::Classifier;

/// A watched share: its folder, a policy with auto-labeling rules, the watcher's identity
/// and its label memory.
struct Share {
    dir: tempfile::TempDir,
    policy: Policy,
    identity: Identity,
    trust: TrustStore,
    classifier: Classifier,
}

fn share() -> (Share, LabelMemory) {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::create(&dir.path().join(".keys"), "fileserver").unwrap();
    let mut trust = TrustStore::default();
    trust.add(identity.as_signer(SignerKind::User));
    let policy = Policy::builtin("default").unwrap();
    let mut classifier = Classifier::new(&policy).unwrap();
    classifier.hash_content = true;
    let memory = LabelMemory::open(&dir.path().join(".state/memory.sqlite")).unwrap();
    let share = Share {
        dir,
        policy,
        identity,
        trust,
        classifier,
    };
    (share, memory)
}

impl Share {
    fn labeler(&self) -> Labeler<'_> {
        Labeler {
            policy: &self.policy,
            identity: &self.identity,
            trust: &self.trust,
            dept: None,
            preference: StorePreference::Xattr,
            memo: None,
            digests: None,
        }
    }

    /// Writes `content` at `name`, last modified an hour ago (settled).
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        path
    }

    fn level(&self, path: &Path) -> Option<String> {
        self.labeler().peek(path).unwrap().label.map(|l| l.level)
    }

    /// Runs one batch at `now`; returns its reports, the labels applied and how many files
    /// it handled.
    fn batch(
        &self,
        engine: &mut Engine,
        memory: &mut LabelMemory,
        now: Instant,
    ) -> (Vec<Report>, Vec<Applied>, usize) {
        let labeler = self.labeler();
        let labeling = Labeling {
            classifier: &self.classifier,
            labeler: &labeler,
            verbose: true,
        };
        let mut handled = 0;
        let batch = engine.batch(now, labeling, memory, |jobs, handle, sink| {
            handled = jobs.len();
            handle(jobs).into_iter().for_each(sink)
        });
        (batch.reports, batch.labeled, handled)
    }
}

const SETTLE: Duration = Duration::from_millis(300);

fn engine() -> Engine {
    Engine::new(SETTLE, Duration::from_secs(300))
}

#[test]
fn a_new_file_is_labelled_by_the_rules_once_it_settled() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let memo = share.write("週報.txt", "【社外秘】今週の生産計画");
    let t0 = Instant::now();
    engine.event(FsEvent::Closed(memo.clone()), t0);

    let (reports, _, handled) = share.batch(&mut engine, &mut memory, t0);
    assert_eq!(handled, 0, "not before the settle window: {reports:?}");
    assert_eq!(share.level(&memo), None);

    let (reports, labeled, handled) = share.batch(&mut engine, &mut memory, t0 + SETTLE);
    assert_eq!(handled, 1);
    assert!(
        matches!(&reports[..], [Report::Labeled { path, level, rule, .. }]
            if path == &memo && level == "internal" && rule.as_deref() == Some("marked-internal")),
        "{reports:?}"
    );
    assert_eq!(labeled.len(), 1, "the audit log hears of it");
    assert_eq!(share.level(&memo).as_deref(), Some("internal"));
    assert_eq!(
        memory.recall(&memo).unwrap().unwrap().label.level,
        "internal",
        "the memory remembers it"
    );
    // Its own label write (an attribute change) is not new content, and its echo is
    // dropped at once: nothing for the memory to learn.
    assert!(!engine.event(FsEvent::Attributes(memo.clone()), t0 + SETTLE));
    let (reports, _, handled) = share.batch(&mut engine, &mut memory, t0 + SETTLE * 2);
    assert_eq!((handled, reports), (0, vec![]));
}

#[test]
fn every_file_of_a_batch_larger_than_a_commit_group_is_remembered() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let files: Vec<PathBuf> = (0..super::COMMIT_GROUP + 100)
        .map(|i| share.write(&format!("f{i}.txt"), "【社外秘】今週の生産計画"))
        .collect();
    let t0 = Instant::now();
    engine.found(files.iter().cloned(), t0);
    let (_, labeled, handled) = share.batch(&mut engine, &mut memory, t0);
    assert_eq!((handled, labeled.len()), (files.len(), files.len()));
    let forgotten: Vec<_> = files
        .iter()
        .filter(|f| memory.recall(f).unwrap().is_none())
        .collect();
    assert_eq!(forgotten, Vec::<&PathBuf>::new());
}

#[test]
fn paths_deleted_while_the_watcher_was_stopped_are_forgotten_after_the_reconciliation() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let (gone, kept) = (
        share.write("gone.txt", "議事録"),
        share.write("kept.txt", "議事録"),
    );
    let t0 = Instant::now();
    engine.found([gone.clone(), kept.clone()], t0);
    share.batch(&mut engine, &mut memory, t0);
    std::fs::remove_file(&gone).unwrap();
    let roots = [share.dir.path().to_owned()];

    // Remembered during this reconciliation: seen by it, not looked at again.
    let seen = memory.recall(&gone).unwrap().unwrap().seen_at;
    engine.forget_missing(&mut memory, &roots, seen - 1);
    assert!(memory.recall(&gone).unwrap().is_some());

    // Remembered before it: looked up, and forgotten when gone.
    engine.forget_missing(&mut memory, &roots, seen);
    assert!(
        memory.recall(&gone).unwrap().is_none(),
        "deleted while stopped"
    );
    assert!(memory.recall(&kept).unwrap().is_some());
}

#[test]
fn a_batch_handles_no_more_files_than_its_limit_and_the_rest_next() {
    let (share, mut memory) = share();
    let mut engine = engine().with_batch_limit(2);
    let files: Vec<PathBuf> = (0..5)
        .map(|i| share.write(&format!("f{i}.txt"), "議事録"))
        .collect();
    let t0 = Instant::now();
    engine.found(files.iter().cloned(), t0);
    let handled: Vec<usize> = (0..4)
        .map(|_| share.batch(&mut engine, &mut memory, t0).2)
        .collect();
    assert_eq!(handled, [2, 2, 1, 0]);
    for f in &files {
        assert_eq!(
            share.level(f).as_deref(),
            Some("internal"),
            "{}",
            f.display()
        );
    }
}

#[test]
fn a_burst_of_writes_is_handled_once_after_the_last() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let log = share.write("計画.txt", "【社外秘】 draft");
    let t0 = Instant::now();
    engine.event(FsEvent::CreatedFile(log.clone()), t0);
    engine.event(
        FsEvent::Written(log.clone()),
        t0 + Duration::from_millis(100),
    );
    engine.event(
        FsEvent::Written(log.clone()),
        t0 + Duration::from_millis(200),
    );
    assert_eq!(engine.waiting(), 1);
    assert_eq!(
        engine.next_due(),
        Some(t0 + Duration::from_millis(200) + SETTLE)
    );

    let (_, _, handled) = share.batch(&mut engine, &mut memory, t0 + Duration::from_millis(450));
    assert_eq!(handled, 0, "each write restarts the settle window");
    // The writer closes it: one more event, still one file to handle.
    engine.event(
        FsEvent::Closed(log.clone()),
        t0 + Duration::from_millis(450),
    );
    let (reports, _, handled) =
        share.batch(&mut engine, &mut memory, t0 + Duration::from_millis(750));
    assert_eq!(handled, 1);
    let labeled = reports
        .iter()
        .filter(|r| matches!(r, Report::Labeled { .. }))
        .count();
    assert_eq!(labeled, 1, "{reports:?}");
    assert_eq!(engine.waiting(), 0);
}

#[test]
fn an_editors_save_as_temp_then_rename_keeps_the_label() {
    let (share, mut memory) = share();
    let mut engine = engine();
    // A person labeled the plan 極秘 by hand; nothing in it says so.
    let plan = share.write("plan.txt", "plan v1");
    let labeler = share.labeler();
    labeler
        .set(
            &plan,
            &SetRequest {
                level: share.policy.level("strictly-confidential").unwrap(),
                method: Method::Manual,
                asset: None,
                owner: None,
                justification: None,
                rule: None,
                flags: Vec::new(),
                evidence: Vec::new(),
                content_sha256: None,
                newest: None,
            },
        )
        .unwrap();
    let doc = labeler.peek(&plan).unwrap().label.unwrap().doc;
    let t0 = Instant::now();
    engine.found([plan.clone()], t0);
    share.batch(&mut engine, &mut memory, t0);
    assert!(
        memory.recall(&plan).unwrap().is_some(),
        "the start-up walk remembers it"
    );

    // The editor writes the new content to a temporary file and renames it over the plan:
    // a new file, without the label.
    let tmp = share.write(".goutputstream-ABC123", "plan v2");
    std::fs::rename(&tmp, &plan).unwrap();
    assert_eq!(share.level(&plan), None, "the save stripped the label");
    let t1 = t0 + Duration::from_secs(1);
    engine.event(FsEvent::CreatedFile(tmp.clone()), t1);
    engine.event(FsEvent::Closed(tmp.clone()), t1);
    engine.event(
        FsEvent::Renamed {
            from: tmp.clone(),
            to: plan.clone(),
        },
        t1,
    );
    let (reports, _, _) = share.batch(&mut engine, &mut memory, t1 + SETTLE);

    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Restored { path, level, doc: d, .. }
            if path == &plan && level == "strictly-confidential" && *d == doc)),
        "{reports:?}"
    );
    let label = share.labeler().peek(&plan).unwrap().label.unwrap();
    assert_eq!(
        (label.level.as_str(), label.doc, label.method),
        ("strictly-confidential", doc, Method::Manual)
    );
}

#[test]
fn a_file_no_rule_matches_gets_the_policys_default_level() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let readme = share.write("readme.txt", "lunch menu");
    let t0 = Instant::now();
    engine.found([readme.clone()], t0);
    let (reports, labeled, _) = share.batch(&mut engine, &mut memory, t0);
    assert!(
        matches!(&reports[..], [Report::Labeled { level, method: Method::Default, rule: None, .. }, ..]
            if level == "internal"),
        "{reports:?}"
    );
    assert_eq!(labeled.len(), 1, "the audit log hears of it");
    let label = share.labeler().peek(&readme).unwrap().label.unwrap();
    assert_eq!(
        (label.level.as_str(), label.method),
        ("internal", Method::Default)
    );
}

#[test]
fn a_policy_can_leave_files_no_rule_matches_unlabeled_under_the_watcher() {
    let (mut share, mut memory) = share();
    let text = fuda_core::policy::BUILTIN[0].1.replacen(
        "apply_default_level = true",
        "apply_default_level = false",
        1,
    );
    share.policy = Policy::from_toml(&text, Path::new("no-default.toml")).unwrap();
    let mut engine = engine();
    let readme = share.write("readme.txt", "lunch menu");
    let t0 = Instant::now();
    engine.found([readme.clone()], t0);
    let (reports, labeled, _) = share.batch(&mut engine, &mut memory, t0);
    assert!(
        matches!(&reports[..], [Report::NoRule { path }] if path == &readme),
        "{reports:?}"
    );
    assert!(labeled.is_empty());
    assert_eq!(share.level(&readme), None);
}

#[test]
fn a_label_set_just_before_a_save_by_rename_is_put_back() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let plan = share.write("plan.txt", "plan v1");
    let t0 = Instant::now();
    engine.found([plan.clone()], t0);
    share.batch(&mut engine, &mut memory, t0);
    // A person labels it 極秘 by hand, and the editor saves by rename right after, well
    // inside the settle window.
    let labeler = share.labeler();
    labeler
        .set(
            &plan,
            &SetRequest {
                level: share.policy.level("strictly-confidential").unwrap(),
                method: Method::Manual,
                asset: None,
                owner: None,
                justification: None,
                rule: None,
                flags: Vec::new(),
                evidence: Vec::new(),
                content_sha256: None,
                newest: None,
            },
        )
        .unwrap();
    let doc = labeler.peek(&plan).unwrap().label.unwrap().doc;
    let t1 = t0 + Duration::from_secs(1);
    assert!(
        engine.event(FsEvent::Attributes(plan.clone()), t1),
        "a person's label over the watcher's own is not taken for its echo"
    );
    let (reports, _, _) = share.batch(&mut engine, &mut memory, t1);
    assert!(
        reports.iter().any(
            |r| matches!(r, Report::Remembered { level, .. } if level == "strictly-confidential")
        ),
        "learnt at the attribute change, not a settle window later: {reports:?}"
    );
    let tmp = share.write(".goutputstream-XYZ", "plan v2");
    std::fs::rename(&tmp, &plan).unwrap();
    let t2 = t1 + Duration::from_millis(20);
    engine.event(FsEvent::CreatedFile(tmp.clone()), t2);
    engine.event(FsEvent::Closed(tmp.clone()), t2);
    engine.event(
        FsEvent::Renamed {
            from: tmp.clone(),
            to: plan.clone(),
        },
        t2,
    );
    let (reports, _, _) = share.batch(&mut engine, &mut memory, t2 + SETTLE);
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Restored { path, level, .. }
            if path == &plan && level == "strictly-confidential")),
        "{reports:?}"
    );
    let label = share.labeler().peek(&plan).unwrap().label.unwrap();
    assert_eq!(
        (label.level.as_str(), label.doc, label.method),
        ("strictly-confidential", doc, Method::Manual)
    );
}

#[test]
fn an_older_label_written_back_is_reported_and_the_newer_one_put_back() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let quote = share.write("見積.txt", "【社外秘】見積 ¥1,200,000");
    let t0 = Instant::now();
    engine.found([quote.clone()], t0);
    share.batch(&mut engine, &mut memory, t0);
    assert_eq!(share.level(&quote).as_deref(), Some("internal"));
    let old = xattr::get(&quote, fuda_core::store::xattr::LABEL_ATTR)
        .unwrap()
        .unwrap();

    // A person raises it to 秘; the watcher follows the attribute change.
    let request = |level| SetRequest {
        level,
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
    share
        .labeler()
        .set(
            &quote,
            &request(share.policy.level("confidential").unwrap()),
        )
        .unwrap();
    let t1 = t0 + Duration::from_secs(1);
    engine.event(FsEvent::Attributes(quote.clone()), t1);
    let (reports, _, _) = share.batch(&mut engine, &mut memory, t1 + SETTLE);
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Remembered { level, .. } if level == "confidential")),
        "{reports:?}"
    );

    // Someone writes the older, lower label back (a backup tool, a copy of the attribute).
    xattr::set(&quote, fuda_core::store::xattr::LABEL_ATTR, &old).unwrap();
    let t2 = t1 + Duration::from_secs(1);
    engine.event(FsEvent::Attributes(quote.clone()), t2);
    let (reports, _, _) = share.batch(&mut engine, &mut memory, t2 + SETTLE);

    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Replayed { path, level, found, .. }
            if path == &quote && level == "confidential" && found == "internal")),
        "{reports:?}"
    );
    assert_eq!(share.level(&quote).as_deref(), Some("confidential"));
}

#[test]
fn editor_temporaries_and_a_file_gone_before_it_settled_are_not_handled() {
    let (share, mut memory) = share();
    let mut engine = engine();
    let lock = share.write(".~lock.plan.odt#", "lock");
    let gone = share.write("gone.txt", "【社外秘】");
    let t0 = Instant::now();
    engine.event(FsEvent::Closed(lock), t0);
    engine.event(FsEvent::Closed(gone.clone()), t0);
    std::fs::remove_file(&gone).unwrap();
    engine.event(FsEvent::Removed(gone), t0);
    assert_eq!(engine.waiting(), 0);
    let (reports, _, handled) = share.batch(&mut engine, &mut memory, t0 + SETTLE);
    assert_eq!((handled, reports), (0, vec![]));
}

#[test]
fn reports_serialise_with_their_kind_and_paths_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    // 秘 in CP932, as an old Samba share writes it.
    let cp932 = PathBuf::from(std::ffi::OsStr::from_bytes(b"/srv/\x94\xe9.txt"));
    let json = serde_json::to_value(Report::NoRule { path: cp932 }).unwrap();
    assert_eq!(json["event"], "no-rule");
    assert_eq!(
        json["path"],
        serde_json::json!({"bytes": "L3Nydi+U6S50eHQ="})
    );
    let json = serde_json::to_value(Report::failed_anywhere("disk full")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"event": "failed", "error": "disk full"})
    );
}
