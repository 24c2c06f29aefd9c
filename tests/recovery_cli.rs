//! The organisation's recovery key, end to end against a real `fuda-keyd` process: every
//! protected file carries a stanza for it whatever the client sent (issue 14, item 3), and
//! the key opens every file without the service — with `fuda recover` and with Go `age`.
//!
//! Go `age` is found on `PATH` or through `FUDA_AGE_BIN`; a missing tool skips its check
//! locally and fails under `FUDA_REQUIRE_TOOLS=1` (CI), as in `envelope_interop.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::keyd::Keyd;
use common::{p, require_tool, workdir, write, User};
use fuda_core::envelope::{self, x25519, Header, StreamOptions};
use serde_json::json;

fn default_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml")
}

/// The tool `name` (on `PATH`, in ~/.cargo/bin, or at `$env`), or `None` (skipped
/// locally, a failure under FUDA_REQUIRE_TOOLS=1).
fn tool(name: &str, env: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env).map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".cargo/bin"));
        }
        dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
    });
    require_tool(name, found.is_some()).then(|| found.unwrap())
}

/// Go `age`.
fn go_age() -> Option<PathBuf> {
    tool("age", "FUDA_AGE_BIN")
}

/// The plaintext `age -d -i identity file` prints.
fn age_decrypt(age: &Path, identity: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new(age)
        .args(["-d", "-i", p(identity), p(file)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn token(u: &User) -> String {
    std::fs::read_to_string(u.home.path().join(".config/fuda/keyd.token"))
        .unwrap()
        .trim()
        .to_owned()
}

fn recovery_identity(keyd: &Keyd) -> Vec<Box<dyn age::Identity>> {
    x25519::read_identity_file(keyd.recovery_file()).unwrap()
}

/// A whole protected file (header + payload) wrapped to the service only — what a client
/// that leaves out the recovery stanza sends — for a new document labelled by `user`.
fn file_without_recovery(keyd: &Keyd, user: &User, plaintext: &[u8]) -> (String, Vec<u8>) {
    let identity =
        fuda_core::identity::Identity::load(&user.home.path().join(".config/fuda"), &user.name)
            .unwrap();
    let doc = fuda_core::label::DocId::new();
    let signed = identity.sign(fuda_core::label::Label {
        v: fuda_core::label::LABEL_VERSION,
        doc,
        level: "confidential".into(),
        policy: fuda_core::label::PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: user.name.clone(),
        dept: None,
        asset: None,
        method: fuda_core::label::Method::Manual,
        rule: None,
        origin: None,
        set_by: user.name.clone(),
        set_at: fuda_keyd::now(),
        seq: 0,
        content_sha256: None,
        justification: None,
        flags: Default::default(),
        evidence: Vec::new(),
    });
    let body = fuda_core::store::envelope::encode_body(
        &fuda_core::label::compact::encode(&signed),
        &Default::default(),
        "",
    );
    let (st, info) = keyd.api().call_json_get("/v1/info", &token(user));
    assert_eq!(st, 200);
    let service: x25519::Recipient = info["recipient"].as_str().unwrap().parse().unwrap();
    let mut file = Vec::new();
    envelope::encrypt(
        &[service],
        Some(&envelope::LabelStanza::new(doc, body)),
        plaintext,
        &mut file,
        &StreamOptions::default(),
    )
    .unwrap();
    (doc.to_string(), file)
}

#[test]
fn a_header_registered_without_the_recovery_stanza_comes_back_with_it() {
    let keyd = Keyd::start();
    let policy = default_policy();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let plaintext = "見積書 rev.2\n".repeat(10_000).into_bytes();
    let (doc, file) = file_without_recovery(&keyd, &alice, &plaintext);
    let (header, len) = Header::parse_bytes(&file).unwrap();
    assert!(
        matches!(
            envelope::decrypt_bytes(&file, recovery_identity(&keyd).iter().map(|i| i.as_ref())),
            Err(envelope::Error::NoMatchingIdentity)
        ),
        "the crafted file must not open with the recovery key before registration"
    );

    let (st, answer) = keyd.api().json(
        "POST",
        "/v1/documents",
        &token(&alice),
        &json!({
            "header": STANDARD.encode(header.to_bytes()), "name": "quote.txt",
            "level": "confidential",
            "grants": [{"principal": "owner", "rights": "owner"}],
            "max_rights": "view,edit,print,copy", "expires_at": null, "offline_days": 0,
            "size": plaintext.len(), "digest": "00", "host": "h", "path": "/p",
        }),
    );
    assert_eq!(st, 200, "{answer}");
    assert_eq!(answer["id"], doc);
    let final_header = STANDARD.decode(answer["header"].as_str().unwrap()).unwrap();
    let (parsed, _) = Header::parse_bytes(&final_header).unwrap();
    assert_eq!(parsed.label(), header.label(), "the label is kept");
    assert_eq!(
        envelope::recovery::recorded(&parsed),
        [recovery_recipient(&keyd)],
        "the header records the service's recovery recipient"
    );

    // The final header in front of the unchanged payload opens with the recovery key.
    let mut rewritten = final_header.clone();
    rewritten.extend_from_slice(&file[len..]);
    let plain = envelope::decrypt_bytes(
        &rewritten,
        recovery_identity(&keyd).iter().map(|i| i.as_ref()),
    )
    .unwrap();
    assert_eq!(&plain[..], &plaintext[..]);
    if let Some(age) = go_age() {
        let dir = workdir();
        let path = dir.path().join("quote.txt.fuda");
        std::fs::write(&path, &rewritten).unwrap();
        assert_eq!(age_decrypt(&age, keyd.recovery_file(), &path), plaintext);
    }
}

fn recovery_recipient(keyd: &Keyd) -> String {
    let text = std::fs::read_to_string(keyd.recovery_file()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned()
}

#[test]
fn go_age_rage_and_fuda_recover_open_every_protected_file_with_the_recovery_key() {
    let mut keyd = Keyd::start();
    let policy = default_policy();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let work = workdir();
    let mut files = Vec::new();
    for (name, len, level) in [
        ("empty.txt", 0, "confidential"),
        ("plan.txt", 70_000, "strictly-confidential"),
        ("memo.txt", 300, "internal"),
    ] {
        let path = work.path().join(name);
        let content: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        write(&path, &content);
        alice
            .fuda(&["protect", p(&path), "--level", level, "--json"])
            .expect(0);
        files.push((envelope::protected_path(&path), content));
    }
    // The owner opens through the service; then the service is gone.
    alice.fuda(&["open", p(&files[1].0)]).expect(0);
    keyd.stop();
    let tools: Vec<PathBuf> = [go_age(), tool("rage", "FUDA_RAGE_BIN")]
        .into_iter()
        .flatten()
        .collect();
    for (protected, content) in &files {
        let (header, _) = Header::parse_bytes(&std::fs::read(protected).unwrap()).unwrap();
        assert_eq!(
            envelope::recovery::recorded(&header),
            [recovery_recipient(&keyd)],
            "{}",
            protected.display()
        );
        let out = work.path().join("recovered");
        let _ = std::fs::remove_file(&out);
        alice
            .fuda(&[
                "recover",
                p(protected),
                "--identity",
                p(keyd.recovery_file()),
                "--out",
                p(&out),
            ])
            .expect(0);
        assert_eq!(&std::fs::read(&out).unwrap(), content);
        for tool in &tools {
            assert_eq!(&age_decrypt(tool, keyd.recovery_file(), protected), content);
        }
    }
}

/// The share line of a share page written by `fuda-keyd init --shares`.
fn share_line(page: &Path) -> String {
    std::fs::read_to_string(page)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("fuda-share-v1:"))
        .unwrap()
        .to_owned()
}

#[test]
fn any_two_of_three_shares_open_a_protected_file_one_does_not_and_a_typo_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let keyd = Keyd::start_with(&["--shares", "2/3"]);
    let pages = keyd.recovery_files.clone();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for page in &pages {
        let mode = std::fs::metadata(page).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", page.display());
    }
    assert!(
        !keyd.data.path().join("fuda-recovery.txt").exists(),
        "with --shares nobody gets the whole key"
    );
    let policy = default_policy();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let work = workdir();
    let plan = work.path().join("plan.txt");
    write(&plan, "設計図 rev.3\n".repeat(1000));
    let content = std::fs::read(&plan).unwrap();
    alice
        .fuda(&["protect", p(&plan), "--level", "strictly-confidential"])
        .expect(0);
    let protected = envelope::protected_path(&plan);
    let out = work.path().join("recovered.txt");

    // Any two, as files or as typed text, in any order.
    let lines: Vec<String> = pages.iter().map(|f| share_line(f)).collect();
    for shares in [
        format!("{},{}", p(&pages[0]), p(&pages[1])),
        format!("{},{}", p(&pages[2]), p(&pages[0])),
        format!("{},{}", lines[1], lines[2]),
        format!("{},{}", lines[2].to_uppercase(), p(&pages[0])),
    ] {
        let _ = std::fs::remove_file(&out);
        alice
            .fuda(&[
                "recover",
                p(&protected),
                "--shares",
                &shares,
                "--out",
                p(&out),
            ])
            .expect(0);
        assert_eq!(std::fs::read(&out).unwrap(), content, "{shares}");
    }

    // One share is not enough, and nothing is written.
    std::fs::remove_file(&out).unwrap();
    let run = alice.fuda(&[
        "recover",
        p(&protected),
        "--shares",
        p(&pages[1]),
        "--out",
        p(&out),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("1 share(s) given, but this key was split so that 2 are needed"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    // A typo in the second share given is caught and named.
    let typo = flip_hex_digit(&lines[2], 40);
    let run = alice.fuda(&[
        "recover",
        p(&protected),
        "--shares",
        &format!("{},{typo}", lines[0]),
        "--out",
        p(&out),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("share 2 (number 3 of its set) has a typo"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    // Go age opens it with the identity the shares give back.
    if let Some(age) = go_age() {
        let identity = fuda_core::recovery_key::combine_args(&lines[..2]).unwrap();
        let key = work.path().join("reassembled.txt");
        std::fs::write(
            &key,
            &*fuda_core::recovery_key::identity_file_text(&identity, "reassembled"),
        )
        .unwrap();
        assert_eq!(age_decrypt(&age, &key, &protected), content);
    }
}

/// `share` with the hex digit at byte `at` replaced by another hex digit.
fn flip_hex_digit(share: &str, at: usize) -> String {
    let mut bytes = share.as_bytes().to_vec();
    assert!(bytes[at].is_ascii_hexdigit(), "{share} at {at}");
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

/// Everything after the header of a protected file: the nonce and the encrypted content.
fn payload(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let (_, len) = Header::parse_bytes(&bytes).unwrap();
    bytes[len..].to_vec()
}

/// Whether `age -d -i identity file` succeeds.
fn age_opens(age: &Path, identity: &Path, file: &Path) -> bool {
    Command::new(age)
        .args(["-d", "-i", p(identity), "-o", "/dev/null", p(file)])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn after_a_rotation_rewrap_brings_existing_files_to_the_new_key_with_the_payload_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let keyd = Keyd::start();
    let policy = default_policy();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let work = workdir();
    let share = work.path().join("share");
    let mut protected = Vec::new();
    for name in ["a.txt", "sub/b.txt"] {
        let path = share.join(name);
        write(&path, format!("{name}: 設計図\n").repeat(5000));
        alice
            .fuda(&["protect", p(&path), "--level", "confidential"])
            .expect(0);
        protected.push(envelope::protected_path(&path));
    }
    write(&share.join("notes.txt"), "not protected");
    let before: Vec<Vec<u8>> = protected.iter().map(|f| payload(f)).collect();

    // Only an admin adds a recovery recipient, and only an admin rewraps.
    let stranger = x25519::Identity::generate().to_public().to_string();
    let run = alice.fuda(&["admin", "recovery", "rotate", "--recipient", &stranger]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let header = STANDARD.encode(&std::fs::read(&protected[0]).unwrap()[..200]);
    let (st, _) = keyd.api().json(
        "POST",
        "/v1/rewrap",
        &token(&alice),
        &json!({ "header": header }),
    );
    assert_eq!(st, 403);

    // The admin makes a new recovery key, written once, 0600.
    let new_key = work.path().join("recovery-2027.txt");
    let rotated = admin
        .fuda(&[
            "admin",
            "recovery",
            "rotate",
            "--out",
            p(&new_key),
            "--json",
        ])
        .expect(0)
        .json_lines();
    assert_eq!(rotated[0]["type"], "recovery");
    assert_eq!(rotated[0]["recipients"].as_array().unwrap().len(), 2);
    let mode = std::fs::metadata(&new_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let age = go_age();
    if let Some(age) = &age {
        assert!(
            !age_opens(age, &new_key, &protected[0]),
            "not before rewrap"
        );
    }

    let records = admin
        .fuda(&["rewrap", "-r", p(&share), "--json"])
        .expect(0)
        .json_lines();
    assert_eq!(records.len(), 2, "only the .fuda files: {records:?}");
    assert!(
        records.iter().all(|r| r["outcome"] == "rewrapped"),
        "{records:?}"
    );
    for (file, payload_before) in protected.iter().zip(&before) {
        assert_eq!(&payload(file), payload_before, "the payload is untouched");
        let mut keys = vec![keyd.recovery_file().to_owned(), new_key.clone()];
        keys.retain(|k| k.exists());
        for key in &keys {
            let out = work.path().join("out.txt");
            let _ = std::fs::remove_file(&out);
            alice
                .fuda(&["recover", p(file), "--identity", p(key), "--out", p(&out)])
                .expect(0);
        }
        if let Some(age) = &age {
            assert!(age_opens(age, &new_key, file));
        }
    }
    alice.fuda(&["open", p(&protected[1])]).expect(0);

    // A second run finds nothing to do; new files carry both keys at once.
    let again = admin
        .fuda(&["rewrap", "-r", p(&share), "--json"])
        .expect(0)
        .json_lines();
    assert!(again.iter().all(|r| r["outcome"] == "current"), "{again:?}");
    let fresh = share.join("c.txt");
    write(&fresh, "new");
    alice
        .fuda(&["protect", p(&fresh), "--level", "confidential"])
        .expect(0);
    let (h, _) =
        Header::parse_bytes(&std::fs::read(envelope::protected_path(&fresh)).unwrap()).unwrap();
    assert_eq!(envelope::recovery::recorded(&h).len(), 2);

    // Both are in the audit log.
    let audit = admin
        .fuda(&["admin", "audit", "--json"])
        .expect(0)
        .json_lines();
    assert!(audit
        .iter()
        .any(|r| r["action"] == "recovery-add" && r["actor"] == "admin"));
    assert_eq!(
        audit
            .iter()
            .filter(|r| r["action"] == "rewrap" && r["outcome"] == "allow")
            .count(),
        2,
        "one rewrap record per file changed: {:?}",
        audit
            .iter()
            .filter(|r| r["action"] == "rewrap")
            .collect::<Vec<_>>()
    );
}

/// `fuda-keyd init` with `args` in a fresh directory: (exit status, stdout, stderr, dir).
fn keyd_init(args: &[&str]) -> (bool, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::keyd_bin())
        .current_dir(dir.path())
        .args(["init", "--data", p(&dir.path().join("data"))])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    )
}

#[test]
fn init_walks_the_admin_through_the_recovery_ceremony_and_keeps_no_secret() {
    use std::os::unix::fs::PermissionsExt;
    let (ok, stdout, stderr, dir) = keyd_init(&[]);
    assert!(ok, "{stderr}");
    let file = dir.path().join("fuda-recovery.txt");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let recipient = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    for expected in [
        recipient.as_str(),
        p(&file),
        "separate safes",
        "shred -u",
        "Once a year",
        "fuda recover --identity FILE",
        "age -d -i FILE",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    // The service keeps only the public half: no identity anywhere in its data directory.
    let secret = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    let mut stack = vec![dir.path().join("data")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the recovery key",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn init_refuses_to_overwrite_a_recovery_key_or_keep_it_in_the_data_directory() {
    // An existing file is never replaced, and nothing is created.
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("old-recovery.txt");
    std::fs::write(&existing, "the 2025 key").unwrap();
    let out = Command::new(common::keyd_bin())
        .args(["init", "--data", p(&dir.path().join("data"))])
        .args(["--recovery-file", p(&existing)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "the 2025 key");
    assert!(!dir.path().join("data").exists());

    // Inside the data directory: refused.
    let (ok, _, stderr, dir) = keyd_init(&["--recovery-file", "data/keys/recovery.txt"]);
    assert!(!ok);
    assert!(stderr.contains("inside the data directory"), "{stderr}");
    assert!(!dir.path().join("data").exists());

    // Not an age recipient: refused.
    let (ok, _, stderr, dir) = keyd_init(&["--recovery", "age1oops"]);
    assert!(!ok);
    assert!(stderr.contains("not an age X25519 recipient"), "{stderr}");
    assert!(!dir.path().join("data").exists());

    // An invalid split: refused.
    let (ok, _, stderr, _dir) = keyd_init(&["--shares", "1/3"]);
    assert!(!ok);
    assert!(stderr.contains("2 ≤ M ≤ N"), "{stderr}");
}

#[test]
fn a_recovery_key_made_offline_is_taken_by_its_recipient_and_opens_every_file() {
    let offline = x25519::Identity::generate();
    let keyd = Keyd::start_with(&["--recovery", &offline.to_public().to_string()]);
    assert!(keyd.recovery_files.is_empty(), "no secret is written");
    let policy = default_policy();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let work = workdir();
    let plan = work.path().join("plan.txt");
    write(&plan, "極秘の設計\n");
    alice
        .fuda(&["protect", p(&plan), "--level", "strictly-confidential"])
        .expect(0);
    let key = work.path().join("offline.txt");
    std::fs::write(
        &key,
        &*fuda_core::recovery_key::identity_file_text(&offline, "made offline"),
    )
    .unwrap();
    let protected = envelope::protected_path(&plan);
    if let Some(age) = go_age() {
        assert_eq!(
            age_decrypt(&age, &key, &protected),
            "極秘の設計\n".as_bytes()
        );
    }
    let shown = admin
        .fuda(&["admin", "recovery", "show", "--json"])
        .expect(0)
        .json_lines();
    assert_eq!(
        shown[0]["recipients"],
        json!([offline.to_public().to_string()])
    );
}

#[test]
fn the_recovery_recipients_of_the_organisations_policy_are_added_by_the_service_once() {
    let keyd = Keyd::start();
    let work = workdir();
    let (org_policy, org_key) = common::keyd::policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &default_policy());
    admin
        .fuda(&["admin", "policy", "set", p(&org_policy)])
        .expect(0);
    let alice = keyd.add(&admin, "alice", "設計部", &default_policy());
    let shown = recovery_shown(&admin);
    assert_eq!(shown.len(), 2, "the service's and the policy's: {shown:?}");

    let plan = work.path().join("plan.txt");
    write(&plan, "設計図\n");
    alice
        .fuda(&["protect", p(&plan), "--level", "confidential"])
        .expect(0);
    let protected = envelope::protected_path(&plan);
    let (header, _) = Header::parse_bytes(&std::fs::read(&protected).unwrap()).unwrap();
    let x25519 = header
        .stanzas()
        .iter()
        .filter(|s| s.tag == x25519::X25519_TAG)
        .count();
    assert_eq!(
        x25519, 3,
        "the service, its recovery key and the policy's: no duplicate"
    );
    assert_eq!(envelope::recovery::recorded(&header), shown);
    if let Some(age) = go_age() {
        for key in [keyd.recovery_file(), org_key.as_path()] {
            assert_eq!(age_decrypt(&age, key, &protected), "設計図\n".as_bytes());
        }
    }
}

fn recovery_shown(admin: &User) -> Vec<String> {
    let shown = admin
        .fuda(&["admin", "recovery", "show", "--json"])
        .expect(0)
        .json_lines();
    shown[0]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}
