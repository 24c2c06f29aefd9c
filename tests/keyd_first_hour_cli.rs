//! End-to-end against a real `fuda-keyd`: what an operator meets setting the service up —
//! a second `init`, `serve` on a folder that holds no service, a first admin code that
//! lapsed — and what an admin hands a new user.

mod common;

use std::process::Command;

use common::keyd::{policy_with_recovery, Keyd};
use common::{keyd_bin, p};

fn keyd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(keyd_bin())
        .args(args)
        .env("FUDA_KEYD_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_init_and_serve_without_a_service_say_what_to_run() {
    let k = Keyd::start();
    let data = k.dir();
    let db = data.join(fuda_keyd::service::DB_FILE);
    let before = std::fs::metadata(&db).unwrap().modified().unwrap();
    let (code, _, stderr) = keyd(&["init", "--data", p(&data)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("already holds a key service")
            && stderr.contains(&format!("fuda-keyd serve --data {}", data.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "said once: {stderr}");
    assert_eq!(std::fs::metadata(&db).unwrap().modified().unwrap(), before);

    let empty = common::workdir();
    let missing = empty.path().join("keyd");
    let (code, _, stderr) = keyd(&["serve", "--data", p(&missing)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("fuda-keyd init --data {}", missing.display())),
        "{stderr}"
    );
    assert!(
        stderr.matches("No such file or directory").count() <= 1,
        "{stderr}"
    );
    assert!(!missing.exists(), "serve creates nothing");
}

#[test]
fn a_lapsed_first_admin_code_is_replaced_on_the_server_and_the_admin_enrolls() {
    let k = Keyd::start();
    let dir = common::workdir();
    let (policy, _) = policy_with_recovery(dir.path());
    // The code from init is lost; a new one is made on the server while it serves.
    let (code, stdout, stderr) = keyd(&["admin-code", "--data", p(&k.dir()), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let made: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(made["fingerprint"], k.fingerprint.as_str());
    let admin = k.enroll("admin", made["enrollment_code"].as_str().unwrap(), &policy);

    // The admin adds a colleague: the whole command to give them, not just the code.
    let run = admin
        .fuda(&["admin", "user", "add", "sato", "--dept", "営業部"])
        .expect(0);
    let line = format!(
        "fuda init --name sato --service {} --enroll fudaenroll_",
        k.url()
    );
    assert!(run.stdout.contains(&line), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("--ca-fingerprint {}", k.fingerprint)),
        "{}",
        run.stdout
    );
    // Under a key service, `trust add` of a hook says how it is really trusted.
    let run = admin
        .fuda(&[
            "trust",
            "add",
            "fuda-hook",
            "Diy9E6LptK4MK+NW5T76BV1dkLkMFkCmGE2kGInf00w=",
            "--kind",
            "hook",
        ])
        .expect(0);
    assert!(
        run.stderr
            .contains("`fuda admin user add fuda-hook --kind hook`"),
        "{}",
        run.stderr
    );
    // Only an admin of the service gets such a code.
    let (code, _, stderr) = keyd(&["admin-code", "--data", p(&k.dir()), "--admin", "sato"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("must be an admin"), "{stderr}");
}
