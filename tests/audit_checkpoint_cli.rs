//! Signed audit checkpoints against a real `fuda-keyd`: every enrolled `fuda` keeps the
//! newest checkpoint the service signed, and an audit log whose tail was cut off in the
//! database — head row moved back, the chain left consistent — fails verification with the
//! records removed, while a forged checkpoint is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};
use serde_json::Value;

fn checkpoint_file(u: &User) -> PathBuf {
    u.home
        .path()
        .join(".local/state/fuda/audit-checkpoint.json")
}

fn held(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The service's audit head (seq) as its verification counts it.
fn records(admin: &User) -> i64 {
    let v = admin
        .fuda(&["admin", "audit", "--verify", "--json"])
        .expect(0)
        .json_lines();
    v[0]["records"].as_i64().unwrap()
}

/// `user` opens `file` until the checkpoint it keeps names at least record `seq` (the
/// service signs one at most once a second).
fn open_until_checkpoint(user: &User, file: &Path, seq: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        user.fuda(&["open", p(file)]).expect(0);
        if let Some(c) = held(&checkpoint_file(user)).filter(|c| c["seq"].as_i64() >= Some(seq)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of record {seq} kept: {:?}",
            held(&checkpoint_file(user))
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_cut_off_tail_fails_verification_against_the_checkpoint_a_staff_machine_kept() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let plan = work.path().join("plan.txt");
    write(&plan, "plan\n");
    tanaka
        .fuda(&["protect", p(&plan), "--level", "秘"])
        .expect(0);
    let protected = work.path().join("plan.txt.fuda");

    // Staff work as usual; their fuda keeps the newest checkpoint, privately.
    let target = records(&admin);
    let kept = open_until_checkpoint(&tanaka, &protected, target);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(checkpoint_file(&tanaka))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let seq = kept["seq"].as_i64().unwrap();
    let staff_copy = work.path().join("tanaka-checkpoint.json");
    std::fs::copy(checkpoint_file(&tanaka), &staff_copy).unwrap();

    // Before any tampering the log verifies, against the checkpoints too.
    let ok = admin
        .fuda(&["admin", "audit", "--verify", "--checkpoint", p(&staff_copy)])
        .expect(0);
    assert!(ok.stdout.contains("audit log intact"), "{}", ok.stdout);
    assert!(
        ok.stdout.contains("signed checkpoint of record"),
        "{}",
        ok.stdout
    );
    // Let the checkpoint that answer asked for be signed before the database is touched.
    std::thread::sleep(Duration::from_millis(300));

    // Someone with write access to the database cuts off the newest records and moves
    // the head back: what is left is a consistent chain.
    let cut_to = seq - 3;
    let db = rusqlite::Connection::open(keyd.dir().join("keyd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let hash: String = db
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [cut_to], |r| {
            r.get(0)
        })
        .unwrap();
    db.execute_batch(&format!(
        "BEGIN; DELETE FROM audit WHERE seq > {cut_to}; \
         UPDATE audit_head SET seq = {cut_to}, hash = '{hash}' WHERE id = 1; COMMIT;"
    ))
    .unwrap();
    drop(db);
    // The database writer does not reach the data directory nor the admin's machine, but
    // to show the staff machine's copy alone is enough, both are gone here.
    std::fs::remove_file(keyd.dir().join("audit-checkpoint.json")).unwrap();
    std::fs::remove_file(checkpoint_file(&admin)).unwrap();

    // The chain alone still verifies: that is the attack.
    let fooled = admin.fuda(&["admin", "audit", "--verify"]).expect(0);
    assert!(
        fooled.stdout.contains("audit log intact"),
        "{}",
        fooled.stdout
    );

    // Against the checkpoint the staff machine kept, it does not.
    let bad = admin
        .fuda(&["admin", "audit", "--verify", "--checkpoint", p(&staff_copy)])
        .expect(1);
    assert!(bad.stdout.contains("AUDIT LOG TAMPERED"), "{}", bad.stdout);
    assert!(
        bad.stdout
            .contains("the audit log is shorter than a checkpoint you hold"),
        "{}",
        bad.stdout
    );
    assert!(
        bad.stdout.contains(&format!("..{seq} were removed")),
        "{}",
        bad.stdout
    );
    let json = admin
        .fuda(&[
            "admin",
            "audit",
            "--verify",
            "--json",
            "--checkpoint",
            p(&staff_copy),
        ])
        .expect(1)
        .json_lines();
    assert_eq!(json[0]["ok"], false);
    assert_eq!(json[0]["checkpoint"], seq);

    // The staff machine keeps its higher checkpoint while the service signs lower ones.
    tanaka.fuda(&["open", p(&protected)]).expect(0);
    std::thread::sleep(Duration::from_millis(1100));
    tanaka.fuda(&["open", p(&protected)]).expect(0);
    assert_eq!(held(&checkpoint_file(&tanaka)).unwrap()["seq"], seq);
}

#[test]
fn the_service_finds_a_cut_tail_with_its_own_checkpoint_and_refuses_a_forged_one() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let plan = work.path().join("plan.txt");
    write(&plan, "plan\n");
    admin
        .fuda(&["protect", p(&plan), "--level", "秘"])
        .expect(0);
    let protected = work.path().join("plan.txt.fuda");
    let target = records(&admin);
    let kept = open_until_checkpoint(&admin, &protected, target);

    // A checkpoint raised by hand no longer carries the service's signature.
    let mut forged = kept.clone();
    forged["seq"] = Value::from(kept["seq"].as_i64().unwrap() + 1000);
    let forged_file = work.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let refused = admin.fuda(&[
        "admin",
        "audit",
        "--verify",
        "--checkpoint",
        p(&forged_file),
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("is not signed by this key service"),
        "{}",
        refused.stderr
    );
    let garbage = work.path().join("garbage.json");
    std::fs::write(&garbage, "{\"seq\": 1}").unwrap();
    let refused = admin
        .fuda(&["admin", "audit", "--verify", "--checkpoint", p(&garbage)])
        .expect(2);
    assert!(
        refused.stderr.contains("is not an audit checkpoint"),
        "{}",
        refused.stderr
    );

    // The cut, with only the service's own checkpoint (in its data directory) to go by.
    let seq = kept["seq"].as_i64().unwrap();
    std::fs::remove_file(checkpoint_file(&admin)).unwrap();
    let db = rusqlite::Connection::open(keyd.dir().join("keyd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let hash: String = db
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq - 2], |r| {
            r.get(0)
        })
        .unwrap();
    db.execute_batch(&format!(
        "BEGIN; DELETE FROM audit WHERE seq > {}; \
         UPDATE audit_head SET seq = {}, hash = '{hash}' WHERE id = 1; COMMIT;",
        seq - 2,
        seq - 2
    ))
    .unwrap();
    let bad = admin.fuda(&["admin", "audit", "--verify"]).expect(1);
    assert!(
        bad.stdout.contains("shorter than a checkpoint") && bad.stdout.contains("were removed"),
        "{}",
        bad.stdout
    );
}
