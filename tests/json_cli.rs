//! What scripts rely on: the `--json` records of every command, pinned by snapshots.
//!
//! Each test runs the real `fuda` (and, where a key service is needed, a real
//! `fuda-keyd`) and compares the records it prints with a file in `tests/snapshots/`.
//! Values that differ from run to run (times, document ids, keys, digests, temporary
//! folders) are redacted; everything else — record types, field names, nesting, how
//! paths are encoded — is compared exactly. A schema change is deliberate: review the
//! new snapshot (`cargo insta review`, or the `.snap.new` file beside the old one) and
//! commit it with the change. Under `CI=true` a missing or different snapshot fails.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::keyd::{policy_with_recovery, Keyd};
use common::watch::Watch;
use common::{p, write, Run, User};
use serde_json::Value;

/// Fields whose values differ from run to run, and what the snapshots show instead.
const VARYING: &[(&str, &str)] = &[
    ("set_at", "[time]"),
    ("at", "[time]"),
    ("at_ms", "[time]"),
    ("expires_at", "[time]"),
    ("created_at", "[time]"),
    ("since", "[time]"),
    ("seconds", "[seconds]"),
    ("doc", "[doc id]"),
    ("doc_id", "[doc id]"),
    ("key_id", "[key id]"),
    ("public_key", "[public key]"),
    ("signing_key", "[public key]"),
    ("recipient", "[age recipient]"),
    ("recipients", "[age recipients]"),
    ("code", "[enrollment code]"),
    ("service_id", "[service id]"),
    ("hash", "[hash]"),
    ("prev", "[hash]"),
    ("mac", "[mac]"),
    ("body_text", "[signed label]"),
    ("body_base64", "[signed label]"),
    ("content_sha256", "[sha256]"),
    ("digest", "[sha256]"),
    ("host", "[host]"),
    ("memory", "[label memory]"),
    ("fetched_at", "[time]"),
    ("url", "[service url]"),
];

/// A small organisation policy for `fuda admin policy …`.
const ACME_POLICY: &str = r#"[policy]
id = "acme"
version = 1
name = "ACME"

[[levels]]
id = "public"
rank = 0
name = { ja = "公開", en = "Public" }
description = "Anyone may read it."
ipa_confidentiality = 0
protect = "never"

[[levels]]
id = "secret"
rank = 1
name = { ja = "極秘", en = "Secret" }
description = "The board only."
ipa_confidentiality = 2
protect = "required"
grants = { "owner" = "owner" }
max_rights = "view"
expires_days = 365
"#;

/// The records of a run, with the folders of this test replaced by names that do not
/// change (`[home]`, `[work]` …).
fn records(run: &Run, folders: &[(&Path, &str)]) -> Vec<Value> {
    lines(&run.stdout, folders)
}

fn lines(text: &str, folders: &[(&Path, &str)]) -> Vec<Value> {
    let mut text = text.to_owned();
    for (folder, name) in folders {
        text = text.replace(p(folder), name);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .map(|mut v| {
            redact_byte_paths(&mut v, folders);
            v
        })
        .collect()
}

/// The folders inside `{"bytes": base64}` paths (names that are not UTF-8), replaced as
/// in text: the bytes are decoded, the folder swapped for its name, and encoded again.
fn redact_byte_paths(value: &mut Value, folders: &[(&Path, &str)]) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("bytes") => {
            let Some(Ok(mut bytes)) = map["bytes"].as_str().map(|s| b64.decode(s)) else {
                return;
            };
            for (folder, name) in folders {
                let folder = folder.as_os_str().as_bytes();
                if bytes.starts_with(folder) {
                    bytes.splice(..folder.len(), name.bytes());
                }
            }
            map["bytes"] = Value::from(b64.encode(&bytes));
        }
        Value::Object(map) => map.values_mut().for_each(|v| redact_byte_paths(v, folders)),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_byte_paths(v, folders)),
        _ => {}
    }
}

/// Compares `value` with the snapshot `name`, what varies redacted.
fn snapshot(name: &str, value: &[Value]) {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(false);
    for (field, shown) in VARYING {
        settings.add_redaction(&format!(".**.{field}"), varying(shown));
    }
    // The key id of a label's signer (`key` elsewhere, as in a policy problem, is a word).
    settings.add_redaction("[].key", varying("[key id]"));
    // X25519 stanza arguments are ephemeral shares.
    settings.add_redaction(".**.stanzas[].args", "[stanza args]");
    // Document and service ids are ULIDs; policy and rule ids are words.
    settings.add_redaction(
        ".**.id",
        insta::dynamic_redaction(|value, _| match value.as_str() {
            Some(id) if id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                "[ulid]".into()
            }
            _ => value,
        }),
    );
    settings.bind(|| insta::assert_json_snapshot!(name, value));
}

/// Shows a value that differs from run to run as `shown`; an absent value (null) stays,
/// as it is part of the schema.
fn varying(shown: &'static str) -> insta::internals::Redaction {
    insta::dynamic_redaction(
        move |value, _| {
            if value.is_nil() {
                value
            } else {
                shown.into()
            }
        },
    )
}

/// What a command that prints no records yet says, on stdout and stderr, for a snapshot
/// until it prints records.
fn text(run: &Run, folders: &[(&Path, &str)]) -> String {
    let mut text = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    for (folder, name) in folders {
        text = text.replace(p(folder), name);
    }
    text
}

/// A name that is not UTF-8 (CP932 for 秘密.txt), as old Samba shares hold them.
fn cp932_name() -> &'static OsStr {
    OsStr::from_bytes(b"\x94\xe9\x96\xa7.txt")
}

#[test]
fn labels_policies_trust_and_init_print_typed_records() {
    let tanaka = User::new("tanaka");
    let work = common::workdir();
    let dir = work.path();
    let home = tanaka.home.path();
    let folders = [(home, "[home]"), (dir, "[work]")];

    let init = tanaka
        .fuda_in(
            dir,
            &["init", "--name", "tanaka", "--dept", "設計部", "--json"],
        )
        .expect(0);
    snapshot("init", &records(&init, &folders));

    write(&dir.join("見積書.txt"), "社外秘 見積");
    write(&dir.join("notes.txt"), "hello");
    write(&dir.join(cp932_name()), "old share");

    let set = tanaka
        .fuda_in(dir, &["label", "set", "秘", "見積書.txt", "--json"])
        .expect(0);
    snapshot("label_set", &records(&set, &folders));
    let set_bytes = tanaka
        .fuda_in(
            dir,
            &[
                OsStr::new("label"),
                OsStr::new("set"),
                OsStr::new("internal"),
                cp932_name(),
                OsStr::new("--json"),
            ],
        )
        .expect(0);
    snapshot("label_set_non_utf8_name", &records(&set_bytes, &folders));
    let downgrade = tanaka
        .fuda_in(
            dir,
            &[
                "label",
                "set",
                "公開",
                "見積書.txt",
                "--justify",
                "公開済み",
                "--json",
            ],
        )
        .expect(0);
    snapshot("label_set_downgrade", &records(&downgrade, &folders));

    let show = tanaka
        .fuda_in(dir, &["label", "show", "-r", ".", "--json"])
        .expect(0);
    snapshot("label_show", &records(&show, &folders));
    let check = tanaka
        .fuda_in(dir, &["label", "check", "-r", ".", "--json"])
        .expect(1);
    snapshot("label_check", &records(&check, &folders));
    let remove = tanaka
        .fuda_in(
            dir,
            &[
                "label",
                "remove",
                "見積書.txt",
                "notes.txt",
                "--justify",
                "誤り",
                "--json",
            ],
        )
        .expect(0);
    snapshot("label_remove", &records(&remove, &folders));

    let trust = tanaka.fuda_in(dir, &["trust", "list", "--json"]).expect(0);
    snapshot("trust_list", &records(&trust, &folders));
    let sato = User::init("sato");
    let key = sato.public_key();
    let add = tanaka
        .fuda_in(
            dir,
            &["trust", "add", "sato", &key, "--kind", "hook", "--json"],
        )
        .expect(0);
    snapshot("trust_add", &records(&add, &folders));
    let remove = tanaka
        .fuda_in(dir, &["trust", "remove", "sato", "--json"])
        .expect(0);
    snapshot("trust_remove", &records(&remove, &folders));

    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml"),
        dir.join("policy.toml"),
    )
    .unwrap();
    write(
        &dir.join("bad.toml"),
        "[policy]\nid = \"x\"\n[[levels]]\nid = 3\n",
    );
    let ok = tanaka
        .fuda_in(dir, &["policy", "check", "policy.toml", "--json"])
        .expect(0);
    snapshot("policy_check_valid", &records(&ok, &folders));
    let bad = tanaka
        .fuda_in(dir, &["policy", "check", "bad.toml", "--json"])
        .expect(1);
    snapshot("policy_check_invalid", &records(&bad, &folders));
    let show = tanaka.fuda_in(dir, &["policy", "show", "--json"]).expect(0);
    snapshot("policy_show", &records(&show, &folders));
}

#[test]
fn classify_scan_and_inventory_print_typed_records() {
    let tanaka = User::init("tanaka");
    let work = common::workdir();
    let dir = work.path();
    let folders = [(tanaka.home.path(), "[home]"), (dir, "[work]")];
    write(&dir.join("share/極秘メモ.txt"), "極秘: 新製品の原価");
    write(&dir.join("share/案内.txt"), "社外秘 社内向けのお知らせ");
    write(&dir.join("share/readme.txt"), "nothing to see");
    write(&dir.join("share").join(cp932_name()), "Confidential 図面");

    let classify = tanaka
        .fuda_in(dir, &["classify", "-r", "share", "--json"])
        .expect(0);
    snapshot("classify", &records(&classify, &folders));

    let dry = tanaka
        .fuda_in(dir, &["scan", "share", "--json", "-j", "1"])
        .expect(0);
    snapshot("scan_dry_run", &records(&dry, &folders));
    let apply = tanaka
        .fuda_in(dir, &["scan", "share", "--apply", "--json", "-j", "1"])
        .expect(0);
    snapshot("scan_apply", &records(&apply, &folders));

    let inventory = tanaka.fuda_in(
        dir,
        &[
            "inventory",
            "share",
            "--format",
            "json",
            "--out",
            "ledger.json",
            "--json",
        ],
    );
    snapshot("inventory", &records(&inventory, &folders));
    assert!(dir.join("ledger.json").is_file(), "{}", inventory.stderr);

    // The yearly review: what changed since that inventory.
    std::fs::remove_file(dir.join("share/readme.txt")).unwrap();
    write(&dir.join("share/追加.txt"), "社外秘 追加");
    tanaka
        .fuda_in(dir, &["label", "set", "社外秘", "share/追加.txt"])
        .expect(0);
    let review = tanaka.fuda_in(
        dir,
        &[
            "inventory",
            "share",
            "--since",
            "ledger.json",
            "--format",
            "csv",
            "--out",
            "ledger.csv",
            "--json",
        ],
    );
    let summary = records(&review, &folders).pop().unwrap();
    snapshot("inventory_since_summary", &[summary]);

    // Files whose level must be protected, protected as they are labeled.
    write(&dir.join("vault/原価表.txt"), "極秘 原価");
    let protect = tanaka
        .fuda_in(
            dir,
            &["scan", "vault", "--apply", "--protect", "--json", "-j", "1"],
        )
        .expect(0);
    snapshot("scan_apply_protect", &records(&protect, &folders));
}

#[test]
fn protected_files_and_the_embedded_service_print_typed_records() {
    let work = common::workdir();
    let dir = work.path();
    let (policy, recovery) = policy_with_recovery(dir);
    let tanaka = User::new("tanaka");
    tanaka
        .fuda(&[
            "init",
            "--name",
            "tanaka",
            "--dept",
            "設計部",
            "--policy",
            p(&policy),
        ])
        .expect(0);
    let folders = [(tanaka.home.path(), "[home]"), (dir, "[work]")];
    write(&dir.join("図面.txt"), "assembly drawing");

    // tanaka is the admin of the embedded key service `fuda protect` makes.
    let protect = tanaka
        .fuda_in(
            dir,
            &["protect", "--level", "秘", "図面.txt", "--keep", "--json"],
        )
        .expect(0);
    snapshot("protect", &records(&protect, &folders));
    let protected = "図面.txt.fuda";

    let inspect = tanaka
        .fuda_in(dir, &["inspect", protected, "--json"])
        .expect(0);
    snapshot("inspect", &records(&inspect, &folders));
    let rights = tanaka
        .fuda_in(dir, &["rights", protected, "--json"])
        .expect(0);
    snapshot("rights", &records(&rights, &folders));

    let added = tanaka
        .fuda_in(
            dir,
            &["admin", "user", "add", "sato", "--dept", "営業部", "--json"],
        )
        .expect(0);
    snapshot("admin_user_add", &records(&added, &folders));
    // share, unshare, open and export print text only today: their text is pinned until
    // they print records.
    let share = tanaka
        .fuda_in(dir, &["share", protected, "--grant", "user:sato=view"])
        .expect(0);
    insta::assert_snapshot!("share_text", text(&share, &folders));
    let unshare = tanaka
        .fuda_in(dir, &["unshare", protected, "--user", "sato"])
        .expect(0);
    insta::assert_snapshot!("unshare_text", text(&unshare, &folders));
    let open = tanaka.fuda_in(dir, &["open", protected]).expect(0);
    insta::assert_snapshot!("open_text", text(&open, &folders));
    let export = tanaka
        .fuda_in(dir, &["export", protected, "--out", "exported.txt"])
        .expect(0);
    insta::assert_snapshot!("export_text", text(&export, &folders));
    let recover = tanaka
        .fuda_in(
            dir,
            &[
                "recover",
                protected,
                "-i",
                p(&recovery),
                "--out",
                "recovered.txt",
                "--json",
            ],
        )
        .expect(0);
    snapshot("recover", &records(&recover, &folders));

    let admin = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.push("--json");
        records(&tanaka.fuda_in(dir, &all).expect(0), &folders)
    };
    snapshot("admin_user_list", &admin(&["user", "list"]));
    snapshot("admin_user_code", &admin(&["user", "code", "sato"]));
    snapshot("admin_user_disable", &admin(&["user", "disable", "sato"]));
    snapshot("admin_user_enable", &admin(&["user", "enable", "sato"]));
    snapshot(
        "admin_user_revoke_tokens",
        &admin(&["user", "revoke-tokens", "sato"]),
    );
    snapshot("admin_group_add", &admin(&["group", "add", "設計レビュー"]));
    snapshot(
        "admin_group_add_member",
        &admin(&["group", "add-member", "設計レビュー", "sato"]),
    );
    snapshot(
        "admin_group_remove_member",
        &admin(&["group", "remove-member", "設計レビュー", "sato"]),
    );
    snapshot("admin_group_list", &admin(&["group", "list"]));
    snapshot("admin_documents", &admin(&["documents"]));
    let doc = admin(&["documents"])[0]["id"].as_str().unwrap().to_owned();
    snapshot("admin_revoke", &admin(&["revoke", "--doc", &doc]));
    snapshot("admin_unrevoke", &admin(&["unrevoke", "--doc", &doc]));
    snapshot("admin_audit", &admin(&["audit", "--limit", "3"]));
    snapshot("admin_audit_verify", &admin(&["audit", "--verify"]));
    snapshot("admin_rotate_key", &admin(&["rotate-key"]));

    // The organisation's recovery key: a new recipient, then the file brought to it.
    let new_recovery = fuda_core::envelope::x25519::Identity::generate()
        .to_public()
        .to_string();
    snapshot(
        "admin_recovery_rotate",
        &admin(&["recovery", "rotate", "--recipient", &new_recovery]),
    );
    snapshot("admin_recovery_show", &admin(&["recovery", "show"]));
    let rewrap = tanaka
        .fuda_in(dir, &["rewrap", protected, "--json"])
        .expect(0);
    snapshot("rewrap", &records(&rewrap, &folders));

    // A working copy saved back, the level changed through the service, a new owner.
    tanaka
        .fuda_in(dir, &["open", protected, "--out", "work.txt"])
        .expect(0);
    write(&dir.join("work.txt"), "assembly drawing, revised");
    let save = tanaka
        .fuda_in(dir, &["save", "work.txt", "--to", protected, "--json"])
        .expect(0);
    snapshot("save", &records(&save, &folders));
    let reclassify = tanaka
        .fuda_in(
            dir,
            &[
                "label",
                "set",
                "極秘",
                protected,
                "--justify",
                "見直し",
                "--json",
            ],
        )
        .expect(0);
    snapshot("label_set_protected", &records(&reclassify, &folders));
    snapshot(
        "admin_doc_owner",
        &admin(&["doc", "owner", protected, "--to", "sato"]),
    );
    snapshot(
        "admin_doc_grant",
        &admin(&["doc", "grant", protected, "--grant", "group:設計部=view"]),
    );
}

#[test]
fn a_user_enrolling_with_a_key_service_prints_typed_records() {
    let keyd = Keyd::start();
    let work = common::workdir();
    let dir = work.path();
    let (policy, _) = policy_with_recovery(dir);
    let admin = User::new("admin");
    let folders = [(admin.home.path(), "[home]"), (dir, "[work]")];
    let url = keyd.url();
    let enrolled = admin
        .fuda_in(
            dir,
            &[
                "init",
                "--name",
                "admin",
                "--policy",
                p(&policy),
                "--service",
                &url,
                "--enroll",
                &keyd.admin_code,
                "--ca-fingerprint",
                &keyd.fingerprint,
                "--json",
            ],
        )
        .expect(0);
    let mut records = records(&enrolled, &folders);
    for r in &mut records {
        r["service"] = Value::from("[service url]");
    }
    snapshot("init_enrollment", &records);
    let added = admin
        .fuda_in(
            dir,
            &["admin", "user", "add", "sato", "--dept", "営業部", "--json"],
        )
        .expect(0);
    snapshot("keyd_admin_user_add", &self::records(&added, &folders));
    write(&dir.join("acme.toml"), ACME_POLICY);
    let admin_policy = |args: &[&str]| {
        let mut all = vec!["admin", "policy"];
        all.extend_from_slice(args);
        all.push("--json");
        self::records(&admin.fuda_in(dir, &all).expect(0), &folders)
    };
    snapshot("admin_policy_set", &admin_policy(&["set", "acme.toml"]));
    snapshot("admin_policy_show", &admin_policy(&["show"]));
    snapshot("admin_policy_apply", &admin_policy(&["apply"]));
    let shown = admin.fuda_in(dir, &["policy", "show", "--json"]).expect(0);
    snapshot("policy_show_service", &self::records(&shown, &folders));
    let refreshed = admin
        .fuda_in(dir, &["trust", "refresh", "--json"])
        .expect(0);
    let mut refreshed = self::records(&refreshed, &folders);
    for r in &mut refreshed {
        r["service"] = Value::from("[service url]");
    }
    snapshot("trust_refresh", &refreshed);
    // The company ledger of a service no machine reports to yet: complete, empty.
    let ledger = admin
        .fuda_in(
            dir,
            &[
                "admin",
                "ledger",
                "--format",
                "json",
                "--out",
                "company.json",
                "--json",
            ],
        )
        .expect(0);
    snapshot("admin_ledger", &self::records(&ledger, &folders));
}

#[test]
fn watch_logs_typed_events() {
    let tanaka = User::init("tanaka");
    let work = common::workdir();
    let root = work.path();
    let folders = [(tanaka.home.path(), "[home]"), (root, "[share]")];
    write(&root.join("before.txt"), "社外秘");
    let watch = Watch::start(&tanaka, root, None);
    let memo = root.join("極秘メモ.txt");
    write(&memo, "極秘: 原価");
    watch.wait_for(
        |events| {
            events
                .iter()
                .any(|e| e["event"] == "labeled" && e["path"] == common::jp(&memo))
        },
        60,
    );
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    let text: Vec<String> = events.iter().map(Value::to_string).collect();
    snapshot("watch_events", &lines(&text.join("\n"), &folders));
}

#[test]
fn inventory_json_refuses_to_mix_its_records_with_a_ledger_on_stdout() {
    let tanaka = User::init("tanaka");
    let work = common::workdir();
    let dir = work.path();
    write(&dir.join("share/a.txt"), "社外秘");
    let run = tanaka
        .fuda_in(
            dir,
            &[
                "inventory",
                "share",
                "--format",
                "json",
                "--out",
                "-",
                "--json",
            ],
        )
        .expect(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("--out FILE"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        1,
        "nothing written beside the share"
    );
}

#[test]
fn fuda_keyd_init_prints_its_recovery_key_in_its_record() {
    let work = common::workdir();
    let dir = work.path();
    let out = std::process::Command::new(common::keyd_bin())
        .args(["init", "--data", p(&dir.join("data")), "--json"])
        .args(["--shares", "2/3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut settings = insta::Settings::clone_current();
    settings.add_redaction(".**.fingerprint", "[fingerprint]");
    settings.add_redaction(".**.enrollment_code", "[enrollment code]");
    settings.add_redaction(".**.service", "[service info]");
    settings.bind(|| {
        snapshot(
            "keyd_init",
            &lines(&String::from_utf8_lossy(&out.stdout), &[(dir, "[work]")]),
        )
    });
}

#[test]
fn inventory_report_prints_one_report_record() {
    let keyd = Keyd::start();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), Path::new("default"));
    let added = admin
        .fuda(&[
            "admin", "user", "add", "srv-a", "--kind", "machine", "--json",
        ])
        .expect(0);
    let code = added.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let machine = User::new("srv-a");
    machine
        .fuda(&[
            "init",
            "--machine",
            "srv-a",
            "--service",
            &keyd.url(),
            "--enroll",
            &code,
            "--ca-fingerprint",
            &keyd.fingerprint,
        ])
        .expect(0);
    let work = common::workdir();
    write(&work.path().join("plan.txt"), "設計図");
    let folders = [(machine.home.path(), "[home]"), (work.path(), "[share]")];
    let run = machine
        .fuda(&["inventory", "--report", p(work.path()), "--json"])
        .expect(0);
    let mut records = records(&run, &folders);
    for r in &mut records {
        r["service"] = Value::from("[service url]");
        r["bytes"] = Value::from("[bytes sent]");
    }
    snapshot("inventory_report", &records);
}
