//! The company-wide ledger end to end: a real `fuda-keyd`, three machines with their own
//! identities, HOMEs and trees (two file servers and a sales PC) and a fourth that stops
//! reporting, each sending its files with `fuda inventory --report`; the admin (and an
//! auditor) take the ledger with `fuda admin ledger`, read back with openpyxl.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::keyd::Keyd;
use common::{p, workdir, write, User};
use serde_json::Value;

/// IPA 付録7's columns A–O, in order.
const IPA_COLUMNS: [&str; 15] = [
    "業務分類",
    "情報資産名称",
    "備考",
    "利用者範囲",
    "管理部署",
    "媒体・保存先",
    "個人情報",
    "要配慮個人情報",
    "特定個人情報",
    "機密性",
    "完全性",
    "可用性",
    "重要度",
    "保存期限",
    "登録日",
];

struct Company {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
}

impl Company {
    fn start() -> Company {
        let keyd = Keyd::start();
        let admin = keyd.enroll("admin", &keyd.admin_code.clone(), Path::new("default"));
        Company {
            keyd,
            work: workdir(),
            admin,
        }
    }

    /// A machine enrolled from its own HOME, reporting every `interval`; its tree.
    fn machine(&self, name: &str, interval: &str) -> (User, PathBuf) {
        let run = self
            .admin
            .fuda(&["admin", "user", "add", name, "--kind", "machine", "--json"])
            .expect(0);
        let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
        let m = User::new(name);
        m.fuda(&[
            "init",
            "--machine",
            name,
            "--report-interval",
            interval,
            "--service",
            &self.keyd.url(),
            "--enroll",
            &code,
            "--ca-fingerprint",
            &self.keyd.fingerprint,
        ])
        .expect(0);
        let tree = self.work.path().join(name);
        std::fs::create_dir_all(&tree).unwrap();
        (m, tree)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }
}

fn report(machine: &User, tree: &Path) {
    machine
        .fuda(&["inventory", "--report", p(tree), "--json"])
        .expect(0);
}

fn findings<'a>(ledger: &'a Value, kind: &str) -> Vec<&'a Value> {
    ledger["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

fn text(path: &Value) -> String {
    path["text"].as_str().unwrap_or_default().to_owned()
}

/// Sheet names and each sheet's rows, read with openpyxl; `None` (a skip) without it.
fn read_xlsx(path: &Path) -> Option<Value> {
    const SCRIPT: &str = r#"
import json, sys
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"order": wb.sheetnames}
for ws in wb.worksheets:
    out[ws.title] = [[c for c in row] for row in ws.iter_rows(values_only=True)]
print(json.dumps(out, ensure_ascii=False, default=lambda v: v.date().isoformat()))
"#;
    let present = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool("python3 with openpyxl", present) {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT, p(path)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn the_company_ledger_finds_copies_revoked_documents_and_silent_machines() {
    let c = Company::start();
    let (srv_a, tree_a) = c.machine("srv-a", "1h");
    let (srv_b, tree_b) = c.machine("srv-b", "1h");
    let (pc, tree_pc) = c.machine("pc-sato", "1h");
    let (srv_c, tree_c) = c.machine("srv-c", "2s");

    // Server A keeps a 極秘 drawing in its 極秘 share; someone copied it to the sales PC.
    let drawing = tree_a.join("極秘/車体/drawing.dwg");
    write(&drawing, "DWG 車体図面 rev.7\n".repeat(40));
    c.admin
        .fuda(&["label", "set", "極秘", p(&drawing)])
        .expect(0);
    let copy = tree_pc.join("Desktop/drawing.dwg");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let cp = Command::new("cp")
        .args(["-a", p(&drawing), p(&copy)])
        .status()
        .unwrap();
    assert!(cp.success());

    // Server B holds a protected document that the admin then revokes.
    let spec = tree_b.join("秘/設計/spec.txt");
    write(&spec, "仕様書 第3版\n".repeat(40));
    let run = c
        .admin
        .fuda(&["protect", p(&spec), "--level", "confidential", "--json"])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    c.admin.fuda(&["admin", "revoke", "--doc", &doc]).expect(0);

    // Server C reports once, then stops.
    write(&tree_c.join("memo.txt"), "memo");
    for (m, tree) in [
        (&srv_a, &tree_a),
        (&srv_b, &tree_b),
        (&pc, &tree_pc),
        (&srv_c, &tree_c),
    ] {
        report(m, tree);
    }
    std::thread::sleep(std::time::Duration::from_secs(3));

    let out = c.path("company.json");
    let run = c
        .admin
        .fuda(&[
            "admin",
            "ledger",
            "--format",
            "json",
            "--out",
            p(&out),
            "--json",
        ])
        .expect(1);
    let summary = &run.json_lines()[0];
    assert_eq!(summary["type"], "company_ledger");
    assert_eq!(summary["complete"], false, "{summary}");
    assert_eq!(summary["overdue"], serde_json::json!(["srv-c"]));
    let ledger: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    // The copy is one finding, naming both places.
    let copies = findings(&ledger, "copies-on-several-machines");
    assert_eq!(copies.len(), 1, "{copies:#?}");
    let detail = copies[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("srv-a:{}", drawing.display())),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("pc-sato:{}", copy.display())),
        "{detail}"
    );
    assert_eq!(copies[0]["severity"], "high");
    // On the PC the drawing is outside 極秘's places.
    let outside: Vec<String> = findings(&ledger, "outside-allowed-location")
        .iter()
        .map(|f| text(&f["path"]))
        .collect();
    assert!(
        outside.contains(&format!("pc-sato:{}", copy.display())),
        "{outside:?}"
    );
    assert!(
        !outside.iter().any(|p| p.starts_with("srv-a:")),
        "{outside:?}"
    );
    // The revoked document still on server B.
    let revoked = findings(&ledger, "revoked-still-present");
    assert_eq!(revoked.len(), 1, "{revoked:#?}");
    assert_eq!(
        text(&revoked[0]["path"]),
        format!("srv-b:{}.fuda", spec.display())
    );
    // Server C stopped reporting.
    let silent = findings(&ledger, "machine-not-reporting");
    assert_eq!(silent.len(), 1);
    assert_eq!(text(&silent[0]["path"]), "srv-c:");

    // The workbook: the first sheet says the ledger is incomplete; IPA's columns A–O.
    let xlsx = c.path("台帳.xlsx");
    c.admin
        .fuda(&["admin", "ledger", "--out", p(&xlsx), "-q"])
        .expect(1);
    let Some(book) = read_xlsx(&xlsx) else { return };
    let order: Vec<String> = serde_json::from_value(book["order"].clone()).unwrap();
    assert_eq!(
        order,
        [
            "報告状況 (不完全)",
            "情報資産管理台帳",
            "機密情報台帳",
            "ファイル明細",
            "指摘事項"
        ]
    );
    let sources = book["報告状況 (不完全)"].as_array().unwrap();
    assert!(
        sources[1][5].as_str().unwrap().starts_with("不完全"),
        "{sources:?}"
    );
    let ledger_sheet = book["情報資産管理台帳"].as_array().unwrap();
    let header: Vec<&str> = ledger_sheet[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(header[..15], IPA_COLUMNS);
    // The drawing's row lists every machine:folder in 媒体・保存先 (F).
    let medium: Vec<&str> = ledger_sheet[1..]
        .iter()
        .filter_map(|r| r[5].as_str())
        .collect();
    assert!(
        medium
            .iter()
            .any(|m| m.contains("srv-a:") && m.contains("pc-sato:")),
        "{medium:?}"
    );

    // Sato deletes the copy; next month's ledger, reviewed against this one, shows it
    // removed, and the copy finding is gone.
    std::fs::remove_file(&copy).unwrap();
    report(&pc, &tree_pc);
    let next = c.path("next.json");
    c.admin
        .fuda(&[
            "admin",
            "ledger",
            "--format",
            "json",
            "--out",
            p(&next),
            "--since",
            p(&out),
            "-q",
        ])
        .expect(1);
    let next: Value = serde_json::from_slice(&std::fs::read(&next).unwrap()).unwrap();
    assert_eq!(next["review"]["removed"], 1, "{}", next["review"]);
    assert_eq!(
        text(&next["review"]["changes"][0]["path"]),
        format!("pc-sato:{}", copy.display())
    );
    assert!(findings(&next, "copies-on-several-machines").is_empty());
}

#[test]
fn auditors_read_the_company_ledger_staff_do_not_and_every_export_is_audited() {
    let c = Company::start();
    let (srv, tree) = c.machine("srv-a", "1h");
    write(&tree.join("memo.txt"), "memo");
    report(&srv, &tree);
    let run = c
        .admin
        .fuda(&["admin", "user", "add", "audrey", "--auditor", "--json"])
        .expect(0);
    let auditor = c.keyd.enroll(
        "audrey",
        run.json_lines()[0]["code"].as_str().unwrap(),
        Path::new("default"),
    );
    let staff = c.keyd.add(&c.admin, "sato", "営業部", Path::new("default"));

    let out = c.path("audit.json");
    let run = auditor
        .fuda(&[
            "admin",
            "ledger",
            "--format",
            "json",
            "--out",
            p(&out),
            "--json",
        ])
        .expect(0);
    assert_eq!(run.json_lines()[0]["files"], 1);
    assert!(out.is_file());
    // CSV: the ledger sheet is the file named, the machines' sheet beside it.
    let csv = c.path("台帳.csv");
    auditor
        .fuda(&["admin", "ledger", "--format", "csv", "--out", p(&csv), "-q"])
        .expect(0);
    let text = String::from_utf8(std::fs::read(&csv).unwrap()).unwrap();
    assert!(text.starts_with("\u{feff}業務分類,情報資産名称,"), "{text}");
    let sources = std::fs::read_to_string(c.path("台帳-sources.csv")).unwrap();
    assert!(sources.contains("srv-a,マシン,"), "{sources}");

    let refused = c.path("staff.json");
    let run = staff
        .fuda(&["admin", "ledger", "--format", "json", "--out", p(&refused)])
        .expect(2);
    assert!(
        run.stderr
            .contains("neither an administrator nor an auditor"),
        "{}",
        run.stderr
    );
    assert!(!refused.exists(), "nothing is written for a refused export");

    let run = c.admin.fuda(&["admin", "audit", "--json"]).expect(0);
    let exports: Vec<(String, String)> = run
        .json_lines()
        .iter()
        .filter(|r| r["action"] == "ledger-export" || r["action"] == "admin-read")
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        exports.contains(&("audrey".into(), "allow".into())),
        "{exports:?}"
    );
    assert!(
        exports.contains(&("sato".into(), "deny".into())),
        "{exports:?}"
    );
}
