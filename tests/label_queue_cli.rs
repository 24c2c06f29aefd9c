//! No gap in the audit trail: label changes made while the key service cannot be reached
//! wait in a local queue and reach its audit log, in order, when it is back. End to end
//! with real `fuda` and `fuda-keyd` processes.

mod common;

use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};

/// The label-set records of the audit log, as (document id, path) in log order.
fn label_sets(admin: &User) -> Vec<String> {
    admin
        .fuda(&["admin", "audit", "--json", "--limit", "1000"])
        .expect(0)
        .json_lines()
        .into_iter()
        .filter(|r| r["action"] == "label-set")
        .map(|r| r["doc"].as_str().unwrap().to_owned())
        .collect()
}

fn doc_of(user: &User, path: &std::path::Path) -> String {
    user.show(path)["doc"].as_str().unwrap().to_owned()
}

#[test]
fn a_label_set_during_an_outage_reaches_the_audit_log_when_the_service_is_back() {
    let mut keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let sato = keyd.add(&admin, "sato", "設計部", &policy);
    let (first, second, third) = (
        work.path().join("見積.txt"),
        work.path().join("図面.txt"),
        work.path().join("議事録.txt"),
    );
    for f in [&first, &second, &third] {
        write(f, "社外秘の資料");
    }
    sato.fuda(&["label", "set", "社外秘", p(&first)]).expect(0);

    keyd.kill();
    let run = sato.fuda(&["label", "set", "秘", p(&second)]).expect(0);
    assert!(
        run.stderr.contains("cannot be reached") && run.stderr.contains("label-queue.jsonl"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sato.show(&second)["level"],
        "confidential",
        "the label is on the file"
    );
    let queue = sato.home.path().join(".local/state/fuda/label-queue.jsonl");
    let queued = std::fs::read_to_string(&queue).unwrap();
    assert_eq!(queued.lines().count(), 1, "{queued}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&queue).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    keyd.serve();
    sato.fuda(&["label", "set", "社外秘", p(&third)]).expect(0);
    assert!(!queue.exists(), "the queue is sent and emptied");
    assert_eq!(
        label_sets(&admin),
        [
            doc_of(&sato, &first),
            doc_of(&sato, &second),
            doc_of(&sato, &third)
        ],
        "every change is in the audit log, in the order it was made"
    );
}

#[test]
fn a_label_the_watcher_puts_back_is_in_the_audit_log() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let sato = keyd.add(&admin, "sato", "設計部", &policy);
    let share = workdir();
    let file = share.path().join("仕様書.txt");
    write(&file, "first draft");
    let watch = common::watch::Watch::start(&sato, share.path(), None);
    sato.fuda(&["label", "set", "秘", p(&file)]).expect(0);
    let doc = doc_of(&sato, &file);

    // An editor's save (a new file renamed over the old one) loses the label; the
    // watcher puts the remembered one back.
    let other = share.path().join(".仕様書.txt.swp");
    write(&other, "second draft");
    assert!(std::process::Command::new("mv")
        .args([p(&other), p(&file)])
        .status()
        .unwrap()
        .success());
    watch.wait_for(|events| events.iter().any(|e| e["event"] == "restored"), 60);
    let restores: Vec<_> = (0..50)
        .find_map(|_| {
            let found: Vec<_> = admin
                .fuda(&["admin", "audit", "--doc", &doc, "--json"])
                .expect(0)
                .json_lines()
                .into_iter()
                .filter(|r| r["action"] == "label-restore")
                .collect();
            if found.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(200));
                None
            } else {
                Some(found)
            }
        })
        .expect("a label-restore record");
    assert_eq!(restores[0]["actor"], "sato");
    assert_eq!(
        restores[0]["detail"]["to"], "confidential",
        "{}",
        restores[0]
    );
    watch.stop();
}
