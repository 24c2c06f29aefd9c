//! End-to-end: protected documents in a team's life, with a real `fuda-keyd` on 127.0.0.1
//! holding the organisation's policy and separate `fuda` processes for each person —
//! auto-protection on a share that does not lock the department out, one document id
//! from label to protected file, labeled working copies, saving back a new version,
//! reclassifying through the service, file modes kept, and files from before joining.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::keyd::Keyd;
use common::{p, path_of, workdir, write, User};
use serde_json::Value;

/// The default policy, with 極秘 documents visible to the owner's department (view only)
/// and a recovery recipient, written into `dir`.
fn team_policy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml"),
    )
    .unwrap();
    let secret = "id = \"strictly-confidential\"";
    let (head, tail) = text.split_at(text.find(secret).expect("the 極秘 level"));
    let tail = tail.replacen(
        "grants = { \"owner\" = \"owner\" }",
        "grants = { \"owner\" = \"owner\", \"group:$dept\" = \"view\" }",
        1,
    );
    let policy = dir.join("team-policy.toml");
    std::fs::write(&policy, format!("{head}{tail}")).unwrap();
    policy
}

/// A key service holding `team_policy`, its admin, and the people of a small company.
struct Team {
    keyd: Keyd,
    policy: PathBuf,
    admin: User,
    _dir: tempfile::TempDir,
}

impl Team {
    fn start() -> Team {
        let dir = workdir();
        let policy = team_policy(dir.path());
        let keyd = Keyd::start_with(&["--policy", p(&policy)]);
        let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
        Team {
            keyd,
            policy,
            admin,
            _dir: dir,
        }
    }

    fn person(&self, name: &str, dept: &str) -> User {
        self.keyd.add(&self.admin, name, dept, &self.policy)
    }

    /// A file-server hook, enrolled as one.
    fn hook(&self, name: &str) -> User {
        let code = self
            .admin
            .fuda(&[
                "admin",
                "user",
                "add",
                name,
                "--kind",
                "hook",
                "--dept",
                "情報システム部",
                "--json",
            ])
            .expect(0)
            .json_lines()[0]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        self.keyd.enroll(name, &code, &self.policy)
    }

    /// The audit records of `doc`.
    fn audit(&self, doc: &str) -> Vec<Value> {
        self.admin
            .fuda(&["admin", "audit", "--doc", doc, "--json"])
            .expect(0)
            .json_lines()
    }
}

/// The inventory of `root` as JSON (with the review against `since`, if any).
fn inventory(user: &User, root: &Path, since: Option<&Path>) -> Value {
    let mut args = vec!["inventory", p(root), "--format", "json", "--out", "-"];
    if let Some(s) = since {
        args.extend(["--since", p(s)]);
    }
    // Exit 1 says there are findings; the JSON is the same.
    let run = user.fuda(&args);
    assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn auto_protection_on_a_share_leaves_the_document_to_its_owner_and_department() {
    let team = Team::start();
    let sato = team.person("sato", "設計部");
    let suzuki = team.person("suzuki", "設計部");
    let yamada = team.person("yamada", "営業部");
    let hook = team.hook("share-hook");

    let share = workdir();
    let plan = share.path().join("plan.txt");
    write(&plan, "【極秘】2027 年度 原価計画\n");
    sato.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    let doc = sato.show(&plan)["doc"].as_str().unwrap().to_owned();
    let before = share.path().join("..").join(format!("{doc}-before.json"));
    std::fs::write(
        &before,
        serde_json::to_vec(&inventory(&team.admin, share.path(), None)).unwrap(),
    )
    .unwrap();

    let run = hook
        .fuda(&["scan", "--apply", "--protect", "--json", p(share.path())])
        .expect(0);
    let sealed = share.path().join("plan.txt.fuda");
    assert!(sealed.exists() && !plan.exists(), "{}", run.stderr);

    // One document: the protected file keeps the label's id.
    assert_eq!(sato.show(&sealed)["doc"], doc.as_str());
    let rights = sato
        .fuda(&["rights", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(rights["document"]["owner"], "sato", "{rights}");
    // The label's owner holds it and the department sees it; the hook holds nothing.
    assert_eq!(
        suzuki.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "【極秘】2027 年度 原価計画\n"
    );
    let refused = yamada.fuda(&["open", p(&sealed)]).expect(2);
    assert!(refused.stderr.contains("sato"), "{}", refused.stderr);
    hook.fuda(&["open", p(&sealed)]).expect(2);

    // The review calls it the same document, protected — not removed and added.
    let inv = inventory(&team.admin, share.path(), Some(&before));
    let changes = inv["review"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["kind"], "protected");
    assert_eq!(changes[0]["doc"], doc.as_str());
    assert_eq!(path_of(&changes[0]["path"]), sealed);

    // The admin hands the document to suzuki: audited, and suzuki now owns it.
    let moved = team
        .admin
        .fuda(&[
            "admin",
            "doc",
            "owner",
            p(&sealed),
            "--to",
            "suzuki",
            "--json",
        ])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(moved["owner"], "suzuki", "{moved}");
    // Nobody else can: sato is no longer the owner, yamada never was.
    yamada
        .fuda(&["admin", "doc", "owner", &doc, "--to", "yamada"])
        .expect(2);
    // The admin gives yamada view within the level's caps; more is refused.
    team.admin
        .fuda(&["admin", "doc", "grant", &doc, "--grant", "user:yamada=view"])
        .expect(0);
    yamada.fuda(&["open", p(&sealed)]).expect(0);
    let wide = team
        .admin
        .fuda(&[
            "admin",
            "doc",
            "grant",
            &doc,
            "--grant",
            "user:yamada=view,edit",
        ])
        .expect(2);
    assert!(wide.stderr.contains("at most"), "{}", wide.stderr);
    let audit = team.audit(&doc);
    let action = |a: &str| audit.iter().filter(|r| r["action"] == a).count();
    assert!(
        audit.iter().any(|r| r["action"] == "transfer"
            && r["actor"] == "admin"
            && r["detail"]["to"] == "suzuki"),
        "{audit:?}"
    );
    assert!(audit.iter().any(|r| r["action"] == "protect"
        && r["actor"] == "share-hook"
        && r["detail"]["owner"] == "sato"));
    assert_eq!(action("grant"), 2, "the allowed grant and the refused one");
}

#[test]
fn without_the_organisations_policy_on_the_service_the_owners_department_still_gets_its_grant() {
    // A service that holds no policy of its own: the clients' policy decides the grants.
    let dir = workdir();
    let policy = team_policy(dir.path());
    let keyd = Keyd::start();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let sato = keyd.add(&admin, "sato", "設計部", &policy);
    let suzuki = keyd.add(&admin, "suzuki", "設計部", &policy);
    let code = admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "share-hook",
            "--kind",
            "hook",
            "--dept",
            "情報システム部",
            "--json",
        ])
        .expect(0)
        .json_lines()[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = keyd.enroll("share-hook", &code, &policy);
    let share = workdir();
    let plan = share.path().join("plan.txt");
    write(&plan, "【極秘】原価計画\n");
    sato.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    hook.fuda(&["scan", "--apply", "--protect", p(share.path())])
        .expect(0);
    let sealed = share.path().join("plan.txt.fuda");
    let rights = sato
        .fuda(&["rights", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    let grants: Vec<String> = rights["document"]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}={}",
                g["principal"].as_str().unwrap(),
                g["rights"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(rights["document"]["owner"], "sato", "{rights}");
    assert_eq!(grants, ["group:設計部=view", "owner=owner"], "{rights}");
    assert_eq!(
        suzuki.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "【極秘】原価計画\n"
    );
    hook.fuda(&["open", p(&sealed)]).expect(2);
}

#[test]
fn a_working_copy_carries_the_documents_label_and_is_saved_back_as_its_next_version() {
    let team = Team::start();
    let sato = team.person("sato", "設計部");
    let suzuki = team.person("suzuki", "設計部");
    let yamada = team.person("yamada", "営業部");

    let share = workdir();
    let minutes = share.path().join("minutes.txt");
    write(&minutes, "設計レビュー議事録 v1\n");
    let done = sato
        .fuda(&["protect", p(&minutes), "--level", "秘", "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    let doc = done["doc"].as_str().unwrap().to_owned();
    let sealed = share.path().join("minutes.txt.fuda");

    // suzuki (設計部: view,edit by the level's defaults) takes a working copy: it carries
    // the document's label, marked as opened and signed by suzuki.
    let desk = workdir();
    let copy = desk.path().join("minutes.txt");
    suzuki
        .fuda(&["open", p(&sealed), "--out", p(&copy)])
        .expect(0);
    let shown = suzuki.show(&copy);
    assert_eq!(shown["doc"], doc.as_str(), "{shown}");
    assert_eq!(shown["level"], "confidential");
    assert_eq!(shown["method"], "opened");
    assert_eq!(shown["signer"], "suzuki");
    assert_eq!(shown["status"], "valid");

    // Edited and saved back: the same document, version 2, the working copy gone.
    write(&copy, "設計レビュー議事録 v2（修正済み）\n");
    let saved = suzuki
        .fuda(&["save", p(&copy), "--to", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(saved["type"], "saved");
    assert_eq!(saved["doc"], doc.as_str());
    assert_eq!(saved["version"], 2);
    assert!(!copy.exists(), "the working copy is removed once saved");
    assert_eq!(sato.show(&sealed)["doc"], doc.as_str());
    assert_eq!(
        sato.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "設計レビュー議事録 v2（修正済み）\n"
    );

    // yamada may view (shared by sato) but not edit: the save is refused, nothing changes.
    sato.fuda(&["share", p(&sealed), "--grant", "user:yamada=view"])
        .expect(0);
    let theirs = desk.path().join("yamada-minutes.txt");
    yamada
        .fuda(&["open", p(&sealed), "--out", p(&theirs)])
        .expect(0);
    write(&theirs, "勝手な変更\n");
    let before = std::fs::read(&sealed).unwrap();
    let refused = yamada
        .fuda(&["save", p(&theirs), "--to", p(&sealed)])
        .expect(2);
    assert!(refused.stderr.contains("edit"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&sealed).unwrap(), before);
    assert!(theirs.exists(), "a refused save keeps the working copy");

    // `fuda edit` does it in one step: a private working copy, the editor, the next
    // version. Refused before anything is written for someone without edit.
    let editor = "sh -c 'printf \"追記\\n\" >> \"$1\"' editor";
    let edited = suzuki
        .fuda(&["edit", p(&sealed), "--editor", editor, "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(edited["version"], 3, "{edited}");
    assert_eq!(edited["doc"], doc.as_str());
    assert_eq!(
        sato.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "設計レビュー議事録 v2（修正済み）\n追記\n"
    );
    assert!(
        !suzuki
            .home
            .path()
            .join(".local/state/fuda/edit")
            .join(&doc)
            .exists(),
        "the private working copy is gone once saved"
    );
    let refused = yamada
        .fuda(&["edit", p(&sealed), "--editor", editor])
        .expect(2);
    assert!(refused.stderr.contains("edit"), "{}", refused.stderr);
    assert!(
        !yamada.home.path().join(".local/state/fuda/edit").exists(),
        "nothing written for a refused edit"
    );

    let audit = team.audit(&doc);
    assert!(
        audit.iter().any(|r| r["action"] == "save"
            && r["actor"] == "suzuki"
            && r["outcome"] == "allow"
            && r["detail"]["version"] == 2),
        "{audit:?}"
    );
    assert!(audit
        .iter()
        .any(|r| r["action"] == "open" && r["actor"] == "yamada" && r["outcome"] == "deny"));
    let registered = team
        .admin
        .fuda(&["admin", "documents", "--json"])
        .expect(0)
        .json_lines()
        .into_iter()
        .find(|d| d["id"] == doc.as_str())
        .unwrap();
    assert_eq!(registered["version"], 3, "{registered}");
}

#[test]
fn a_plaintext_copy_of_a_document_that_must_be_protected_is_a_high_finding_naming_who() {
    let team = Team::start();
    let sato = team.person("sato", "設計部");
    let suzuki = team.person("suzuki", "設計部");
    let share = workdir();
    let cost = share.path().join("cost.txt");
    write(&cost, "極秘 原価表\n");
    sato.fuda(&["protect", p(&cost), "--level", "極秘"])
        .expect(0);
    let copy = share.path().join("cost-copy.txt");
    suzuki
        .fuda(&[
            "open",
            p(&share.path().join("cost.txt.fuda")),
            "--out",
            p(&copy),
        ])
        .expect(0);

    let inv = inventory(&team.admin, share.path(), None);
    let files = inv["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| path_of(&f["path"]) == copy && f["method"] == "opened"),
        "the ledger lists the working copy: {files:?}"
    );
    let finding = inv["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| path_of(&f["path"]) == copy && f["kind"] == "plaintext-working-copy")
        .cloned()
        .expect("a plaintext-working-copy finding on the working copy");
    assert_eq!(finding["severity"], "high");
    let says = finding.to_string();
    assert!(says.contains("suzuki") && says.contains("opened"), "{says}");
}

#[test]
fn a_protected_documents_level_changes_through_the_service_and_a_downgrade_needs_a_reason() {
    let team = Team::start();
    let sato = team.person("sato", "設計部");
    let suzuki = team.person("suzuki", "設計部");
    let share = workdir();
    let spec = share.path().join("spec.txt");
    write(&spec, "仕様書\n");
    let doc = sato
        .fuda(&["protect", p(&spec), "--level", "秘", "--json"])
        .expect(0)
        .json_lines()[0]["doc"]
        .as_str()
        .unwrap()
        .to_owned();
    let sealed = share.path().join("spec.txt.fuda");

    // Only the owner (or an admin) changes the level.
    let refused = suzuki.fuda(&["label", "set", "極秘", p(&sealed)]).expect(2);
    assert!(refused.stderr.contains("sato"), "{}", refused.stderr);
    let up = sato
        .fuda(&["label", "set", "極秘", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(up["type"], "reclassified", "{up}");
    let shown = sato.show(&sealed);
    assert_eq!(shown["level"], "strictly-confidential", "{shown}");
    assert_eq!(shown["doc"], doc.as_str());
    assert_eq!(shown["status"], "valid");
    // The caps follow: 極秘 allows view only, so the department keeps view but loses edit.
    assert_eq!(
        sato.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "仕様書\n"
    );
    let theirs = suzuki
        .fuda(&["rights", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(theirs["rights"], "view", "{theirs}");
    assert_eq!(theirs["document"]["max_rights"], "view", "{theirs}");

    // Down again: refused without a reason, the file unchanged; accepted with one.
    let before = std::fs::read(&sealed).unwrap();
    let down = sato.fuda(&["label", "set", "社外秘", p(&sealed)]).expect(2);
    assert!(down.stderr.contains("justif"), "{}", down.stderr);
    assert_eq!(std::fs::read(&sealed).unwrap(), before);
    sato.fuda(&[
        "label",
        "set",
        "社外秘",
        p(&sealed),
        "--justify",
        "公開済み仕様に合わせた",
    ])
    .expect(0);
    assert_eq!(sato.show(&sealed)["level"], "internal");

    let audit = team.audit(&doc);
    let reclassified: Vec<_> = audit
        .iter()
        .filter(|r| r["action"] == "reclassify" && r["outcome"] == "allow")
        .collect();
    assert_eq!(reclassified.len(), 2, "{audit:?}");
    assert_eq!(reclassified[1]["detail"]["downgrade"], true);
    assert_eq!(
        reclassified[1]["detail"]["justification"],
        "公開済み仕様に合わせた"
    );
    assert!(audit
        .iter()
        .any(|r| r["action"] == "reclassify" && r["actor"] == "suzuki" && r["outcome"] == "deny"));
}

#[test]
fn a_protected_file_keeps_the_originals_mode_group_and_acl() {
    // No key service needed: the embedded one.
    let tanaka = User::init("tanaka");
    let folder = workdir();
    let shared = folder.path().join("shared.txt");
    write(&shared, "部内共有\n");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let acl = common::require_tool("setfacl", which("setfacl"))
        && std::process::Command::new("setfacl")
            .args(["-m", "u:12345:r", p(&shared)])
            .status()
            .is_ok_and(|s| s.success());
    let before = std::fs::metadata(&shared).unwrap();
    tanaka
        .fuda(&["protect", p(&shared), "--level", "秘"])
        .expect(0);
    let sealed = folder.path().join("shared.txt.fuda");
    let after = std::fs::metadata(&sealed).unwrap();
    assert_eq!(
        after.mode() & 0o777,
        before.mode() & 0o777,
        "{:o}",
        after.mode()
    );
    assert_eq!(after.gid(), before.gid());
    assert_eq!(after.uid(), before.uid());
    if acl {
        let shown = std::process::Command::new("getfacl")
            .args(["-c", p(&sealed)])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(text.contains("user:12345:r--"), "{text}");
    }
    // Still a standard age file that opens for its owner.
    assert_eq!(
        tanaka.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "部内共有\n"
    );
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_file_protected_before_joining_the_team_opens_after_rewrap_to_service() {
    // tanaka protects on their own machine first (the embedded key service)…
    let tanaka = User::new("tanaka");
    let team = Team::start();
    tanaka
        .fuda(&[
            "init",
            "--name",
            "tanaka",
            "--dept",
            "設計部",
            "--policy",
            p(&team.policy),
        ])
        .expect(0);
    let folder = workdir();
    let drawing = folder.path().join("bracket.txt");
    write(&drawing, "ブラケット図面\n");
    let doc = tanaka
        .fuda(&["protect", p(&drawing), "--level", "秘", "--json"])
        .expect(0)
        .json_lines()[0]["doc"]
        .as_str()
        .unwrap()
        .to_owned();
    let sealed = folder.path().join("bracket.txt.fuda");

    // …then joins the team's service: the old file does not open there, and the error
    // says what to do.
    let code = team
        .admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "tanaka",
            "--dept",
            "設計部",
            "--json",
        ])
        .expect(0)
        .json_lines()[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    tanaka
        .fuda(&[
            "init",
            "--service",
            &team.keyd.url(),
            "--enroll",
            &code,
            "--ca-fingerprint",
            &team.keyd.fingerprint,
        ])
        .expect(0);
    let before = tanaka.fuda(&["open", p(&sealed)]).expect(2);
    assert!(
        before.stderr.contains("rewrap --to-service"),
        "{}",
        before.stderr
    );

    let run = tanaka
        .fuda(&["rewrap", "--to-service", "-r", p(folder.path()), "--json"])
        .expect(0);
    assert_eq!(
        run.json_lines()[0]["outcome"],
        "registered",
        "{}",
        run.stdout
    );
    // Running it again changes nothing.
    let again = tanaka
        .fuda(&["rewrap", "--to-service", p(&sealed), "--json"])
        .expect(0);
    assert_eq!(
        again.json_lines()[0]["outcome"],
        "current",
        "{}",
        again.stdout
    );
    assert_eq!(
        tanaka.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "ブラケット図面\n"
    );
    // The same document, owned by tanaka, with the level's default grants: a colleague
    // of 設計部 opens it too.
    assert_eq!(tanaka.show(&sealed)["doc"], doc.as_str());
    let suzuki = team.person("suzuki", "設計部");
    assert_eq!(
        suzuki.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "ブラケット図面\n"
    );
    let audit = team.audit(&doc);
    assert!(audit
        .iter()
        .any(|r| r["action"] == "protect" && r["detail"]["owner"] == "tanaka"));
}

/// The login name of this process's user (the owner of the files the tests write).
fn login() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn watch_protect_encrypts_a_strictly_confidential_file_as_it_lands_for_its_file_system_owner() {
    let team = Team::start();
    let hook = team.hook("share-hook");
    let sato = team.person("sato", "設計部");
    // The person who owns the files in the file system is in the directory (設計部).
    let owner = login();
    team.admin
        .fuda(&["admin", "user", "add", &owner, "--dept", "設計部"])
        .expect(0);
    let share = workdir();
    let watch = common::watch::Watch::start_with(&hook, share.path(), &["--protect"]);

    let landed = share.path().join("見積.txt");
    let written = std::time::Instant::now();
    write(&landed, "【極秘】見積原価 2027\n");
    let sealed = share.path().join("見積.txt.fuda");
    // Within the settle window (300 ms) and the protection itself; the test only waits
    // for it, and prints how long it took (no timing assertion).
    watch.wait_for(
        |events| {
            events
                .iter()
                .any(|e| e["event"] == "protected" && path_of(&e["path"]) == landed)
        },
        60,
    );
    eprintln!(
        "watch --protect: protected {} ms after the file was written (settle window 300 ms)",
        written.elapsed().as_millis()
    );
    let event = watch
        .events()
        .into_iter()
        .find(|e| e["event"] == "protected")
        .unwrap();
    assert_eq!(event["owner"], owner.as_str(), "{event}");
    assert_eq!(path_of(&event["protected"]), sealed);
    assert!(sealed.exists() && !landed.exists());
    // The department of its owner opens it; the hook kept no right of its own.
    assert_eq!(
        sato.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "【極秘】見積原価 2027\n"
    );
    hook.fuda(&["open", p(&sealed)]).expect(2);
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    // The protected copy that landed is not taken for a new file to label.
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "failed" && path_of(&e["path"]) == sealed),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "protect-failed"),
        "{events:?}"
    );
}
