//! End-to-end: admins check and show policies.

mod common;

use common::{p, write, User};

#[test]
fn the_shipped_policies_check_clean() {
    let admin = User::new("admin");
    for file in ["policies/default.toml", "policies/ipa-sme.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let run = admin.fuda(&["policy", "check", p(&path)]).expect(0);
        assert!(run.stdout.contains("ok"), "{}", run.stdout);
    }
}

#[test]
fn a_malformed_policy_reports_every_problem_with_line_and_key() {
    let admin = User::new("admin");
    let dir = common::workdir();
    let policy = dir.path().join("broken.toml");
    write(
        &policy,
        r#"[policy]
id = "acme"
version = 1

[[levels]]
id = "public"
rank = 0
name = { ja = "公開", en = "Public" }
ipa_confidentiality = 0
protect = "never"

[[levels]]
id = "secret"
rank = 0
name = { ja = "極秘", en = "Secret" }
ipa_confidentiality = 5
protect = "always"
grants = { "owner" = "owner,delete" }

[[rules]]
id = "cad"
level = "top"
extensions = ["dwg"]
"#,
    );
    let run = admin.fuda(&["policy", "check", p(&policy)]).expect(1);
    let err = &run.stderr;
    for expected in [
        "broken.toml:14:8: levels[1].rank",
        "broken.toml:16:23: levels[1].ipa_confidentiality",
        "broken.toml:17:11: levels[1].protect",
        "levels[1].grants.owner: unknown right \"delete\"",
        "broken.toml:22:9: rules[0].level: unknown level \"top\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("5 problems"), "{err}");

    let run = admin
        .fuda(&["policy", "check", "--json", p(&policy)])
        .expect(1);
    let out = &run.json_lines()[0];
    assert_eq!(out["valid"], false);
    assert_eq!(out["problems"].as_array().unwrap().len(), 5);
    assert_eq!(out["problems"][0]["line"], 14);
}

#[test]
fn a_toml_syntax_error_names_the_line() {
    let admin = User::new("admin");
    let dir = common::workdir();
    let policy = dir.path().join("syntax.toml");
    write(&policy, "[policy]\nid = \"x\"\nversion = \n");
    let run = admin.fuda(&["policy", "check", p(&policy)]).expect(1);
    assert!(run.stderr.contains("syntax.toml:3:"), "{}", run.stderr);

    let run = admin
        .fuda(&["policy", "check", p(&dir.path().join("absent.toml"))])
        .expect(2);
    assert!(run.stderr.contains("absent.toml"), "{}", run.stderr);
}

#[test]
fn init_refuses_a_broken_policy_and_creates_nothing() {
    let user = User::new("tanaka");
    let dir = common::workdir();
    let policy = dir.path().join("bad.toml");
    write(&policy, "[policy]\nid = \"Bad Id\"\nversion = 1\n");
    user.fuda(&["init", "--name", "tanaka", "--policy", p(&policy)])
        .expect(2);
    assert!(!user.home.path().join(".config/fuda").exists());
}

#[test]
fn policy_show_lists_levels_in_japanese_and_english() {
    let admin = User::new("admin");
    let run = admin.fuda(&["policy", "show", "ipa-sme"]).expect(0);
    for word in ["公開", "社外秘", "極秘", "Public", "Internal", "Secret"] {
        assert!(run.stdout.contains(word), "{word} in {}", run.stdout);
    }
    let run = admin
        .fuda(&["policy", "show", "default", "--json"])
        .expect(0);
    let levels = run.json_lines()[0]["levels"].as_array().unwrap().clone();
    let names: Vec<&str> = levels
        .iter()
        .map(|l| l["name_ja"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["公開", "社外秘", "秘", "極秘"]);
    let ipa: Vec<u64> = levels
        .iter()
        .map(|l| l["ipa_confidentiality"].as_u64().unwrap())
        .collect();
    assert_eq!(ipa, [0, 1, 2, 2]);
}

#[test]
fn init_never_overwrites_keys_and_keeps_them_private() {
    let user = User::init("tanaka");
    let dir = user.home.path().join(".config/fuda");
    for f in ["identity.age", "signing.key", "config.toml"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(f)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let key = std::fs::read(dir.join("signing.key")).unwrap();
    let config = std::fs::read(dir.join("config.toml")).unwrap();
    let run = user.fuda(&["init", "--name", "mallory"]).expect(2);
    assert!(run.stderr.contains("never overwrites"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the user is tanaka, not mallory"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(dir.join("signing.key")).unwrap(), key);
    assert_eq!(std::fs::read(dir.join("config.toml")).unwrap(), config);

    // A key readable by others is refused with the fix.
    let mut perms = std::fs::metadata(dir.join("signing.key"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(dir.join("signing.key"), perms).unwrap();
    let f = common::workdir();
    write(&f.path().join("a.txt"), "a");
    let run = user
        .fuda(&["label", "set", "秘", p(&f.path().join("a.txt"))])
        .expect(2);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
}

#[test]
fn a_second_init_with_the_same_arguments_says_all_is_set() {
    let user = User::init("tanaka");
    let dir = user.home.path().join(".config/fuda");
    let key = std::fs::read(dir.join("signing.key")).unwrap();
    let run = user
        .fuda(&["init", "--name", "tanaka", "--dept", "設計部"])
        .expect(0);
    assert!(run.stdout.contains("already set up"), "{}", run.stdout);
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert_eq!(std::fs::read(dir.join("signing.key")).unwrap(), key);
    // Another department is a different request: refused, with what is set now.
    let run = user
        .fuda(&["init", "--name", "tanaka", "--dept", "営業部"])
        .expect(2);
    assert!(
        run.stderr.contains("the department is 設計部, not 営業部"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_without_user_takes_the_name_from_the_system_user_database() {
    // Services, containers and `sudo -i` shells often have no $USER.
    let account = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id -un");
    let account = String::from_utf8(account.stdout).unwrap().trim().to_owned();
    let home = common::workdir();
    let out = std::process::Command::new(common::fuda_bin())
        .args(["init", "--json"])
        .env("HOME", home.path())
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(created["user"], account.as_str());
    let config = std::fs::read_to_string(home.path().join(".config/fuda/config.toml")).unwrap();
    assert!(
        config.contains(&format!("user = \"{account}\"")),
        "{config}"
    );
}
