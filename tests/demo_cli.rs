//! End-to-end: `scripts/demo`, the README's first command, tells the whole story on a
//! fresh machine — automatic classification with its evidence, a manual 極秘 label, a
//! protected drawing opened, a colleague refused then granted then revoked, a tampered
//! label caught, and the ledger written (and labeled) — and says where the ledger is.

mod common;

use std::process::Command;

#[test]
fn the_demo_tells_the_whole_story_and_ends_with_the_ledger() {
    if !common::require_tool(
        "python3",
        Command::new("python3").arg("--version").output().is_ok(),
    ) {
        return;
    }
    let dir = common::workdir();
    let demo = dir.path().join("demo");
    let out = Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo"))
        .env("FUDA_BIN", common::fuda_bin())
        .env("FUDA_DEMO_DIR", &demo)
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let said = |what: &str| {
        assert!(
            stdout.contains(what),
            "the demo should say {what:?}:\n{stdout}"
        );
    };
    // Auto-labeled, with the evidence: the CP932 CSV's My Numbers, the Word file's
    // marking, the CAD extension, and the default level for what no rule matches.
    said("share/人事/社員名簿.csv  秘  (detector:my-number×3)");
    said("share/営業/見積依頼.docx  社外秘  (keyword:社外秘)");
    said("share/設計/bracket.dwg  秘  (extension:dwg)");
    said("share/お知らせ/社内報-12月号.txt  社外秘  (no rule matched: the policy's default level)");
    // The manual 極秘 label.
    said("share/経営/新工場計画.txt  社外秘 → 極秘");
    // Protected, opened by its owner; refused to the colleague, then allowed, then revoked.
    said("share/設計/bracket.dwg → share/設計/bracket.dwg.fuda  [秘, doc ");
    let refused = stdout
        .find("you (sato) have no rights on bracket.dwg")
        .unwrap_or_else(|| panic!("no refusal:\n{stdout}"));
    let shared = stdout
        .find("user:sato may now view")
        .unwrap_or_else(|| panic!("no share:\n{stdout}"));
    let opened = stdout[shared..]
        .find("bracket BR-7 rev.3")
        .map(|at| at + shared)
        .unwrap_or_else(|| panic!("sato never opened it:\n{stdout}"));
    let revoked = stdout
        .find("your access to bracket.dwg")
        .unwrap_or_else(|| panic!("no revocation:\n{stdout}"));
    assert!(
        refused < shared && shared < opened && opened < revoked,
        "{stdout}"
    );
    said("was revoked by tanaka");
    // The tampered label is caught.
    said("share/人事/社員名簿.csv  秘 (Confidential)  tampered");
    // The ledger: where it is, labeled itself.
    let ledger = demo.join("台帳.xlsx");
    said(&format!("The ledger is {}", ledger.display()));
    assert!(ledger.is_file());
    said("台帳.xlsx  極秘 (Strictly confidential)  valid");
    said("情報資産管理台帳");
}
