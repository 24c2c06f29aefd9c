//! One organisation, one policy (issue 14): the key service holds the policy, every
//! enrolled `fuda` uses it, and an admin changes it, end to end with a real `fuda-keyd`.

mod common;

use std::path::{Path, PathBuf};

use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};
use serde_json::Value;

/// How long clients use a fetched policy (`fuda::orgpolicy::TTL`).
const TTL: i64 = 600;

/// The default policy renamed to the organisation's: id `acme`, and a description of 極秘
/// staff will recognise.
fn acme_policy(dir: &Path, description: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml"),
    )
    .unwrap()
    .replacen("id = \"default\"", "id = \"acme\"", 1);
    let marker = "id = \"strictly-confidential\"";
    let at = text.find(marker).unwrap();
    let desc = text[at..].find("description = ").unwrap() + at;
    let end = text[desc..].find('\n').unwrap() + desc;
    let text = format!(
        "{}description = \"{description}\"{}",
        &text[..desc],
        &text[end..]
    );
    let path = dir.join(format!("acme-{}.toml", description.len()));
    std::fs::write(&path, text).unwrap();
    path
}

/// `fuda policy show --json` as `user` sees it, `seconds_later` on its clock.
fn shown(user: &User, seconds_later: i64) -> Value {
    let now = (fuda_keyd::now() + seconds_later).to_string();
    user.fuda_env(&["policy", "show", "--json"], &[("FUDA_KEYD_NOW", &now)])
        .expect(0)
        .json_lines()
        .remove(0)
}

fn description_of(shown: &Value, level: &str) -> String {
    shown["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == level)
        .unwrap()["description"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn audit(admin: &User) -> Vec<Value> {
    admin
        .fuda(&["admin", "audit", "--limit", "1000", "--json"])
        .expect(0)
        .json_lines()
}

struct Office {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
    tanaka: User,
    sato: User,
}

/// A service with an admin, tanaka (設計部) and sato (営業部), each set up with the
/// default policy on their own machine.
fn office() -> Office {
    let keyd = Keyd::start();
    let work = workdir();
    let (local, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &local);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &local);
    let sato = keyd.add(&admin, "sato", "営業部", &local);
    Office {
        keyd,
        work,
        admin,
        tanaka,
        sato,
    }
}

#[test]
fn an_admin_sets_the_policy_and_every_user_picks_it_up_without_init_again() {
    let o = office();
    // Before an admin sets one, the service holds no policy: each uses their own.
    let before = shown(&o.tanaka, 0);
    assert_eq!(before["id"], "default");
    assert_eq!(before["source"]["kind"], "local");

    let v1 = acme_policy(o.work.path(), "ACME の経営・技術の中核情報");
    let set = o
        .admin
        .fuda(&["admin", "policy", "set", p(&v1), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(
        (set["version"].as_u64(), set["previous"].as_u64()),
        (Some(1), None)
    );

    // sato never fetched a policy: he uses the organisation's at once.
    let sato = shown(&o.sato, 0);
    assert_eq!(sato["id"], "acme");
    assert_eq!(sato["source"]["kind"], "service");
    assert_eq!(sato["source"]["version"], 1);
    assert_eq!(sato["source"]["set_by"], "admin");
    assert_eq!(
        description_of(&sato, "strictly-confidential"),
        "ACME の経営・技術の中核情報"
    );
    // tanaka fetched before the change: he uses it once his copy is older than the TTL.
    assert_eq!(shown(&o.tanaka, 0)["id"], "default");
    let tanaka = shown(&o.tanaka, TTL + 1);
    assert_eq!(
        (tanaka["id"].as_str(), tanaka["source"]["version"].as_u64()),
        (Some("acme"), Some(1))
    );

    // The table for people says where the policy came from and what each level is for.
    let table = o.sato.fuda(&["policy", "show"]).expect(0).stdout;
    assert!(table.contains("version 1, set by admin"), "{table}");
    assert!(
        table.contains("極秘") && table.contains("Strictly confidential"),
        "{table}"
    );
    assert!(table.contains("ACME の経営・技術の中核情報"), "{table}");

    // So does the help of the commands that take a level.
    for args in [&["label", "set", "--help"][..], &["protect", "-h"][..]] {
        let help = o.sato.fuda(args).expect(0).stdout;
        assert!(
            help.contains(
                "極秘 / Strictly confidential (strictly-confidential): ACME の経営・技術の中核情報"
            ),
            "{args:?}: {help}"
        );
    }

    // Labels are made under the organisation's policy.
    let memo = o.work.path().join("memo.txt");
    write(&memo, "議事録");
    o.sato.fuda(&["label", "set", "極秘", p(&memo)]).expect(0);
    assert_eq!(o.sato.show(&memo)["policy"]["id"], "acme");

    // A change reaches every client within the TTL, and the audit log has who, when and
    // the diff.
    let v2 = acme_policy(o.work.path(), "ACME の中核情報(役員限り)");
    o.admin.fuda(&["admin", "policy", "set", p(&v2)]).expect(0);
    for user in [&o.tanaka, &o.sato] {
        let later = shown(user, 2 * TTL + 2);
        assert_eq!(later["source"]["version"], 2);
        assert_eq!(
            description_of(&later, "strictly-confidential"),
            "ACME の中核情報(役員限り)"
        );
    }
    let sets: Vec<Value> = audit(&o.admin)
        .into_iter()
        .filter(|r| r["action"] == "policy-set" && r["outcome"] == "allow")
        .collect();
    assert_eq!(sets.len(), 2, "{sets:#?}");
    assert_eq!(sets[1]["actor"], "admin");
    assert_eq!(sets[1]["detail"]["version"], 2);
    let diff = sets[1]["detail"]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-description = \"ACME の経営・技術の中核情報\"")
            && diff.contains("+description = \"ACME の中核情報(役員限り)\""),
        "{diff}"
    );
    // Every version stays readable.
    let first = o
        .admin
        .fuda(&["admin", "policy", "show", "--version", "1", "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(first["version"], 1);
    assert!(first["text"]
        .as_str()
        .unwrap()
        .contains("ACME の経営・技術の中核情報"));
    // Only an admin sets the policy.
    let r = o.sato.fuda(&["admin", "policy", "set", p(&v1)]).expect(2);
    assert!(r.stderr.contains("not an administrator"), "{}", r.stderr);
}

#[test]
fn a_local_policy_cannot_label_under_the_service_but_still_serves_dry_runs() {
    let o = office();
    let v1 = acme_policy(o.work.path(), "ACME の中核情報");
    o.admin.fuda(&["admin", "policy", "set", p(&v1)]).expect(0);
    let (local, _) = policy_with_recovery(o.work.path());
    let memo = o.work.path().join("memo.txt");
    write(&memo, "本資料は極秘です。");
    let r = o
        .tanaka
        .fuda(&["label", "set", "--policy", p(&local), "極秘", p(&memo)])
        .expect(2);
    assert!(
        r.stderr.contains("organisation's policy (version 1)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        o.tanaka.show(&memo)["status"],
        "missing",
        "nothing was labelled"
    );
    // A dry run with a local file still works.
    let dry = o
        .tanaka
        .fuda(&["classify", "--policy", p(&local), p(&memo), "--json"])
        .expect(0)
        .json_lines();
    assert_eq!(dry[0]["level"], "strictly-confidential");
}

#[test]
fn a_policy_with_errors_is_refused_with_its_position_and_the_previous_one_stays() {
    let o = office();
    let v1 = acme_policy(o.work.path(), "ACME の中核情報");
    o.admin.fuda(&["admin", "policy", "set", p(&v1)]).expect(0);
    let bad = o.work.path().join("bad.toml");
    let text = std::fs::read_to_string(&v1).unwrap().replacen(
        "max_rights = \"view\"",
        "max_rights = \"view,fly\"",
        1,
    );
    std::fs::write(&bad, text).unwrap();
    let line = std::fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .position(|l| l.contains("view,fly"))
        .unwrap()
        + 1;
    let r = o.admin.fuda(&["admin", "policy", "set", p(&bad)]).expect(2);
    assert!(
        r.stderr.contains(&format!("{}:{line}:", p(&bad))),
        "file:line:column: {}",
        r.stderr
    );
    // The same words as `fuda policy check`.
    let check = o.admin.fuda(&["policy", "check", p(&bad)]).expect(1);
    let problem = check.stderr.lines().nth(1).unwrap().trim();
    assert!(r.stderr.contains(problem), "{}\nvs\n{problem}", r.stderr);

    let current = o
        .admin
        .fuda(&["admin", "policy", "show", "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(current["version"], 1, "the previous policy stays in force");
    assert_eq!(shown(&o.sato, 0)["source"]["version"], 1);
    let refused = audit(&o.admin)
        .into_iter()
        .filter(|r| r["action"] == "policy-set" && r["outcome"] == "deny")
        .count();
    assert_eq!(refused, 1, "the refusal is audited");
}

#[test]
fn the_last_good_policy_is_used_offline_and_a_foreign_one_never() {
    let mut o = office();
    let v1 = acme_policy(o.work.path(), "ACME の中核情報");
    o.admin.fuda(&["admin", "policy", "set", p(&v1)]).expect(0);
    assert_eq!(shown(&o.tanaka, 0)["source"]["version"], 1);

    // Another organisation's service, with its own policy and its own key.
    let other = Keyd::start();
    let other_work = workdir();
    let (other_local, _) = policy_with_recovery(other_work.path());
    let other_admin = other.enroll("admin", &other.admin_code.clone(), &other_local);
    let theirs = acme_policy(other_work.path(), "他社の方針");
    other_admin
        .fuda(&["admin", "policy", "set", p(&theirs)])
        .expect(0);
    let token =
        std::fs::read_to_string(other_admin.home.path().join(".config/fuda/keyd.token")).unwrap();
    let (st, mut foreign) = other.api().call_json_get("/v1/policy", token.trim());
    assert_eq!(st, 200, "{foreign}");

    // Planted in tanaka's cache as if his own service had sent it: refused, and his own
    // service's policy fetched again.
    let cache = o.tanaka.home.path().join(".cache/fuda/policy.json");
    let mut cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    foreign["service"] = cached["service"].clone();
    cached["policy"] = foreign;
    std::fs::write(&cache, cached.to_string()).unwrap();
    let run = o.tanaka.fuda(&["policy", "show", "--json"]).expect(0);
    assert!(
        run.stderr
            .contains("not signed by the enrolled key service"),
        "{}",
        run.stderr
    );
    let ours = run.json_lines().remove(0);
    assert_eq!(
        description_of(&ours, "strictly-confidential"),
        "ACME の中核情報"
    );

    // The service goes away: the last good copy is used, with a warning.
    o.keyd.stop();
    let later = (fuda_keyd::now() + TTL + 1).to_string();
    let run = o
        .tanaka
        .fuda_env(&["policy", "show", "--json"], &[("FUDA_KEYD_NOW", &later)])
        .expect(0);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
    assert_eq!(run.json_lines()[0]["source"]["version"], 1);

    // With only a foreign copy on the machine, nothing is labelled.
    std::fs::write(&cache, cached.to_string()).unwrap();
    let memo = o.work.path().join("memo.txt");
    write(&memo, "議事録");
    let run = o.tanaka.fuda(&["label", "set", "極秘", p(&memo)]).expect(2);
    assert!(run.stderr.contains("no good copy"), "{}", run.stderr);
}

#[test]
fn without_a_key_service_the_policy_is_the_configured_one() {
    let work = workdir();
    let tanaka = User::new("tanaka");
    tanaka.fuda(&["init", "--name", "tanaka"]).expect(0);
    let shown = shown(&tanaka, 0);
    assert_eq!(shown["source"]["kind"], "local");
    assert_eq!(shown["source"]["reference"], "builtin:default");
    let v1 = acme_policy(work.path(), "ACME の中核情報");
    let r = tanaka.fuda(&["admin", "policy", "set", p(&v1)]).expect(2);
    assert!(r.stderr.contains("lives on a key service"), "{}", r.stderr);
}

#[test]
fn a_service_initialised_with_a_policy_enforces_it_from_the_first_enrollment() {
    let work = workdir();
    let policy = acme_policy(work.path(), "取締役会の資料など");
    let keyd = Keyd::start_with(&["--policy", p(&policy)]);
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let sato = keyd.add(&admin, "sato", "営業部", &policy);
    let seen = shown(&sato, 0);
    assert_eq!(seen["id"], "acme", "{seen}");
    assert_eq!(seen["source"]["kind"], "service", "{seen}");
    assert_eq!(seen["source"]["version"], 1, "{seen}");
    assert_eq!(
        description_of(&seen, "strictly-confidential"),
        "取締役会の資料など"
    );
    assert!(audit(&admin).iter().any(|r| r["action"] == "policy-set"));
}

#[test]
fn init_with_a_policy_it_cannot_hold_creates_nothing() {
    let work = workdir();
    // Valid TOML and a valid policy, but 365 offline days is over the service's cap (30).
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml"),
    )
    .unwrap()
    .replacen("offline_days = 30", "offline_days = 365", 1);
    let too_loose = work.path().join("loose.toml");
    write(&too_loose, &text);
    let broken = work.path().join("broken.toml");
    write(&broken, "[policy]\nid = \"acme\"\nversion = \"one\"\n");
    for (policy, says) in [(&too_loose, "offline"), (&broken, "broken.toml:")] {
        let data = work.path().join("keyd");
        let recovery = work.path().join("recovery.txt");
        let out = std::process::Command::new(common::keyd_bin())
            .args(["init", "--data", p(&data), "--recovery-file", p(&recovery)])
            .args(["--policy", p(policy)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!data.exists(), "{stderr}");
        assert!(!recovery.exists(), "{stderr}");
    }
}

#[test]
fn a_running_watcher_labels_by_the_new_policy_once_the_service_changed_it() {
    let o = office();
    let share = o.work.path().join("share");
    std::fs::create_dir(&share).unwrap();
    // The watcher starts before any policy is set, and so uses its local one.
    let watch = common::watch::Watch::start_verbose(&o.tanaka, &share);
    let v1 = acme_policy(o.work.path(), "v1");
    o.admin.fuda(&["admin", "policy", "set", p(&v1)]).expect(0);
    // The watcher's cached copy is refetched once older than the TTL: here, by a later
    // clock of the same user.
    assert_eq!(shown(&o.tanaka, TTL + 1)["source"]["version"], 1);
    let changed_to = |events: &[Value], version: &str| {
        events
            .iter()
            .any(|e| e["event"] == "policy-changed" && e["to"].as_str().unwrap().contains(version))
    };
    watch.wait_for(|e| changed_to(e, "acme"), 30);

    // A product code no rule of v1 knows: the policy's default level.
    let before = share.join("before.txt");
    write(&before, "新型ブラケット BR-7 の仕様");
    let saw = |events: &[Value], kind: &str, file: &Path| {
        events
            .iter()
            .any(|e| e["event"] == kind && common::path_of(&e["path"]) == file)
    };
    watch.wait_for(
        |e| {
            e.iter().any(|e| {
                e["event"] == "labeled"
                    && e["method"] == "default"
                    && common::path_of(&e["path"]) == before
            })
        },
        30,
    );

    // v2 makes it 極秘; the running watcher labels by it from then on.
    let text = std::fs::read_to_string(&v1).unwrap().replacen(
        r#"keywords = ["極秘", "㊙", "Strictly Confidential"]"#,
        r#"keywords = ["極秘", "㊙", "Strictly Confidential", "BR-7"]"#,
        1,
    );
    let v2 = o.work.path().join("acme-v2.toml");
    write(&v2, &text);
    o.admin.fuda(&["admin", "policy", "set", p(&v2)]).expect(0);
    assert_eq!(shown(&o.tanaka, 2 * TTL + 2)["source"]["version"], 2);
    watch.wait_for(
        |e| e.iter().filter(|e| e["event"] == "policy-changed").count() == 2,
        30,
    );
    let after = share.join("after.txt");
    write(&after, "BR-7 の図面");
    watch.wait_for(|e| saw(e, "labeled", &after), 30);
    let (code, events) = watch.stop();
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(o.tanaka.show(&after)["level"], "strictly-confidential");
    // Files labelled before keep their labels (`fuda scan --apply` re-applies).
    assert_eq!(o.tanaka.show(&before)["level"], "internal");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "labeled" && common::path_of(&e["path"]) == before)
            .count(),
        1,
        "{events:?}"
    );
}
