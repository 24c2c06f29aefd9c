//! End-to-end: an admin builds the confidential-asset ledger (情報資産管理台帳) of a file
//! share with `fuda inventory`, reads it in Excel (here: openpyxl), and reviews a year of
//! changes with `--since`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{p, path_of, write, User};
use fuda_core::envelope::{self, LabelStanza, StreamOptions};
use fuda_core::identity::Identity;
use fuda_core::label::{compact, DocId, Label, Method, PolicyRef, LABEL_VERSION};
use serde_json::Value;

const LABEL_ATTR: &str = "user.fuda.label";

/// The IPA 付録7 columns A–O, in order.
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

/// Reads a workbook with openpyxl into `{sheet: {"rows": [[cell…]…], "freeze": …,
/// "filter": …}}`; `None` (a skip) when python3 or openpyxl is missing, unless
/// FUDA_REQUIRE_TOOLS=1 makes that a failure.
fn read_xlsx(path: &Path) -> Option<Value> {
    const SCRIPT: &str = r#"
import json, sys
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"order": wb.sheetnames}
for ws in wb.worksheets:
    out[ws.title] = {
        "rows": [[c for c in row] for row in ws.iter_rows(values_only=True)],
        "freeze": ws.freeze_panes,
        "filter": ws.auto_filter.ref,
    }
# Dates are real dates in the workbook: read back as YYYY-MM-DD.
print(json.dumps(out, ensure_ascii=False, default=lambda v: v.date().isoformat()))
"#;
    let has_openpyxl = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool("python3 with openpyxl", has_openpyxl) {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT, p(path)])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openpyxl could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from python"))
}

fn rows<'a>(book: &'a Value, sheet: &str) -> &'a Vec<Value> {
    book[sheet]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("sheet {sheet} in {:?}", book["order"]))
}

/// Column index of a heading in a sheet's first row.
fn col(rows: &[Value], heading: &str) -> usize {
    rows[0]
        .as_array()
        .unwrap()
        .iter()
        .position(|h| h == heading)
        .unwrap_or_else(|| panic!("no column {heading}"))
}

/// The ledger row whose 情報資産名称 is `name`.
fn ledger_row<'a>(rows: &'a [Value], name: &str) -> &'a Vec<Value> {
    let c = col(rows, "情報資産名称");
    rows[1..]
        .iter()
        .find(|r| r[c] == name)
        .unwrap_or_else(|| panic!("no ledger row {name}: {rows:?}"))
        .as_array()
        .unwrap()
}

/// Replaces the level inside a file's signed xattr label, keeping the old signature.
fn tamper(path: &Path, level: &str) {
    let value = xattr::get(path, LABEL_ATTR).unwrap().unwrap();
    let mut signed = compact::decode(&value).unwrap();
    signed.label.level = level.into();
    xattr::set(path, LABEL_ATTR, &compact::encode(&signed)).unwrap();
}

/// Writes a protected file (`*.fuda`) whose header carries a label `user` signed.
fn protect(user: &User, dest: &Path, level: &str, content: &[u8]) {
    protect_as(user, dest, level, content, None)
}

/// Like [`protect`]; `stanza_doc` puts another document id on the stanza than the label's.
fn protect_as(user: &User, dest: &Path, level: &str, content: &[u8], stanza_doc: Option<DocId>) {
    let identity = Identity::load(&user.home.path().join(".config/fuda"), &user.name).unwrap();
    let signed = identity.sign(Label {
        v: LABEL_VERSION,
        doc: DocId::new(),
        level: level.into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: user.name.clone(),
        dept: Some("設計部".into()),
        asset: None,
        method: Method::Manual,
        rule: None,
        origin: None,
        set_by: user.name.clone(),
        set_at: fuda_core::labeling::now(),
        seq: 0,
        content_sha256: None,
        justification: None,
        flags: Vec::new(),
        evidence: vec![],
    });
    let doc = stanza_doc.unwrap_or(signed.label.doc);
    let stanza = LabelStanza::new(doc, compact::encode(&signed));
    let key_service = envelope::x25519::Identity::generate().to_public();
    let mut out = Vec::new();
    envelope::encrypt(
        &[key_service],
        Some(&stanza),
        content,
        &mut out,
        &StreamOptions::default(),
    )
    .unwrap();
    write(dest, out);
}

/// A share of a small automotive supplier: 設計部 and 総務部, 営業, and a 極秘 folder.
struct Share {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Share {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn build(admin: &User) -> Share {
        let dir = common::workdir();
        let root = dir.path().join("share");
        let share = Share { _dir: dir, root };
        let files: &[(&str, &str)] = &[
            // 設計部: customer drawings (asset customer-drawings by extension), 秘.
            ("設計/顧客A/bracket.dwg", "DWG bracket"),
            ("設計/顧客A/housing.step", "ISO-10303-21 housing"),
            ("設計/顧客B/cover.dxf", "DXF cover"),
            ("設計/顧客B/tampered.dwg", "DWG someone lowered"),
            // 営業: quotations (asset quotations by folder), 社外秘.
            ("営業/見積/Q-2026-001.txt", "quotation 1"),
            ("営業/見積/Q-2026-002.txt", "quotation 2"),
            // 総務部: the personnel list with My Numbers (asset personnel-records, personal
            // data), and an old copy someone labeled only 社外秘.
            (
                "総務/秘/人事/社員名簿.csv",
                "氏名,個人番号\n田中太郎,123456789018\n",
            ),
            (
                "総務/人事/旧社員名簿.csv",
                "氏名,個人番号\n佐藤花子,987654321098\n",
            ),
            // 総務部 rules: no asset matches → one row per folder and level.
            ("総務/規程/就業規則.txt", "work rules"),
            ("総務/規程/handbook.txt", "employee handbook"),
            // 極秘: one labeled (but not encrypted) plan, two unlabeled files.
            ("極秘/新型車/plan.txt", "new model plan"),
            ("極秘/新型車/memo.txt", "meeting memo"),
            ("極秘/新型車/schedule.txt", "schedule"),
            // Public catalogue: 公開, nothing to report.
            ("公開/catalogue.txt", "catalogue"),
        ];
        for (rel, content) in files {
            write(&share.path(rel), content);
        }
        let set = |level: &str, rels: &[&str]| {
            let mut args = vec!["label", "set", level, "-q"];
            let paths: Vec<PathBuf> = rels.iter().map(|r| share.path(r)).collect();
            args.extend(paths.iter().map(|x| p(x)));
            admin.fuda(&args).expect(0);
        };
        set(
            "秘",
            &[
                "設計/顧客A/bracket.dwg",
                "設計/顧客A/housing.step",
                "設計/顧客B/cover.dxf",
                "設計/顧客B/tampered.dwg",
                "総務/秘/人事/社員名簿.csv",
            ],
        );
        set(
            "社外秘",
            &[
                "営業/見積/Q-2026-001.txt",
                "営業/見積/Q-2026-002.txt",
                "総務/人事/旧社員名簿.csv",
                "総務/規程/就業規則.txt",
                "総務/規程/handbook.txt",
            ],
        );
        set("極秘", &["極秘/新型車/plan.txt"]);
        set("公開", &["公開/catalogue.txt"]);
        tamper(&share.path("設計/顧客B/tampered.dwg"), "public");
        // Protected files: an encrypted assembly drawing and the encrypted plan; and a
        // .fuda file whose header is garbage.
        protect(
            admin,
            &share.path("設計/顧客A/assy.dwg.fuda"),
            "confidential",
            b"DWG assy",
        );
        protect(
            admin,
            &share.path("極秘/新型車/plan-v2.txt.fuda"),
            "strictly-confidential",
            b"new model plan v2",
        );
        write(
            &share.path("設計/顧客B/broken.dwg.fuda"),
            "age-encryption.org/v1\n-> garbage",
        );
        // A label stanza copied into another file's header: its doc id is not the label's.
        protect_as(
            admin,
            &share.path("設計/顧客B/swapped.dwg.fuda"),
            "public",
            b"DWG",
            Some(DocId::new()),
        );
        share
    }
}

/// kind, path, previous path, previous level, level.
type Change = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn findings_of(inv: &Value) -> Vec<(String, String)> {
    inv["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                path_of(&f["path"]).to_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_ledger_of_a_share_has_one_row_per_asset_and_every_finding() {
    let admin = User::init("admin");
    let share = Share::build(&admin);
    let out = common::workdir();
    let first = out.path().join("2025.json");

    // Last year's inventory, as JSON.
    admin
        .fuda(&[
            "inventory",
            p(&share.root),
            "--format",
            "json",
            "--out",
            p(&first),
        ])
        .expect(1);

    // During the year an editor saves the handbook by writing a new file: the label is gone.
    let handbook = share.path("総務/規程/handbook.txt");
    std::fs::remove_file(&handbook).unwrap();
    write(&handbook, "employee handbook, 2026 edition");

    let xlsx = out.path().join("台帳.xlsx");
    let run = admin
        .fuda(&[
            "inventory",
            p(&share.root),
            "--since",
            p(&first),
            "--out",
            p(&xlsx),
        ])
        .expect(1);
    assert!(run.stdout.contains("wrote"), "{}", run.stdout);
    assert!(run.stdout.contains("findings"), "{}", run.stdout);

    let json = out.path().join("台帳.json");
    admin
        .fuda(&[
            "inventory",
            p(&share.root),
            "--since",
            p(&first),
            "--format",
            "json",
            "--out",
            p(&json),
        ])
        .expect(1);
    let inv: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();

    // Every expected finding, and no other.
    let s = |rel: &str| share.path(rel).to_str().unwrap().to_owned();
    let mut expected: Vec<(String, String)> = vec![
        ("tampered".into(), s("設計/顧客B/tampered.dwg")),
        ("tampered".into(), s("設計/顧客B/broken.dwg.fuda")),
        ("tampered".into(), s("設計/顧客B/swapped.dwg.fuda")),
        ("label-disappeared".into(), s("総務/規程/handbook.txt")),
        (
            "personal-data-under-low-level".into(),
            s("総務/人事/旧社員名簿.csv"),
        ),
        ("unlabeled".into(), s("極秘/新型車/memo.txt")),
        ("unlabeled".into(), s("極秘/新型車/schedule.txt")),
        ("unprotected".into(), s("極秘/新型車/plan.txt")),
    ];
    let mut found = findings_of(&inv);
    expected.sort();
    found.sort();
    assert_eq!(found, expected, "{:#}", inv["findings"]);

    let book = match read_xlsx(&xlsx) {
        Some(b) => b,
        None => return,
    };
    assert_eq!(
        book["order"],
        serde_json::json!([
            "情報資産管理台帳",
            "機密情報台帳",
            "ファイル明細",
            "指摘事項",
            "棚卸差分"
        ])
    );
    let ledger = rows(&book, "情報資産管理台帳");
    let header: Vec<&str> = ledger[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(header[..15], IPA_COLUMNS, "columns A–O in IPA order");
    for extra in [
        "機密区分",
        "管理者",
        "連絡先",
        "開示先/受領元",
        "保管場所",
        "暗号化",
        "ファイル数",
        "最終更新日",
        "最終棚卸日",
        "台帳ID",
    ] {
        assert!(header.contains(&extra), "column {extra}");
    }
    assert_eq!(
        book["情報資産管理台帳"]["freeze"], "A2",
        "frozen header row"
    );
    assert!(book["情報資産管理台帳"]["filter"]
        .as_str()
        .unwrap()
        .starts_with("A1:"));

    // One row per asset; the rules folder (no asset) is a row of its own; tampered and
    // unlabeled files are in no row.
    assert_eq!(ledger.len() - 1, 6, "{ledger:#?}");
    let files = col(ledger, "ファイル数");
    let conf = col(ledger, "機密性");
    let imp = col(ledger, "重要度");
    let level = col(ledger, "機密区分");
    let personal = col(ledger, "個人情報");
    let my_number = col(ledger, "特定個人情報");

    let drawings = ledger_row(ledger, "顧客図面");
    assert_eq!(
        drawings[files], 4,
        "tampered and broken files are not counted"
    );
    assert_eq!(drawings[col(ledger, "暗号化")], "一部 (1/4)");
    assert_eq!((&drawings[conf], &drawings[imp]), (&2.into(), &2.into()));
    assert_eq!(drawings[level], "秘");
    assert_eq!(drawings[personal], "無");

    let quotes = ledger_row(ledger, "見積書");
    assert_eq!(quotes[files], 2);
    assert_eq!((&quotes[conf], &quotes[imp]), (&1.into(), &1.into()));
    assert_eq!(quotes[level], "社外秘");

    let personnel = ledger_row(ledger, "人事記録");
    assert_eq!(personnel[files], 2);
    assert_eq!((&personnel[conf], &personnel[imp]), (&2.into(), &2.into()));
    assert_eq!(
        (&personnel[personal], &personnel[my_number]),
        (&"有".into(), &"有".into())
    );

    let rules = ledger_row(ledger, "規程");
    assert_eq!(
        rules[files], 1,
        "the stripped handbook is no longer counted"
    );
    assert_eq!((&rules[conf], &rules[imp]), (&1.into(), &1.into()));

    let secret = ledger_row(ledger, "新型車");
    assert_eq!(
        secret[files], 2,
        "plan.txt and the protected plan-v2.txt.fuda"
    );
    assert_eq!((&secret[conf], &secret[imp]), (&2.into(), &2.into()));
    assert_eq!(secret[level], "極秘");

    let public = ledger_row(ledger, "公開");
    assert_eq!((&public[conf], &public[imp]), (&0.into(), &1.into()));

    // 機密情報台帳: 秘 and 極秘 rows only.
    let confidential = rows(&book, "機密情報台帳");
    let names: Vec<&Value> = confidential[1..].iter().map(|r| &r[1]).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["顧客図面", "人事記録", "新型車"] {
        assert!(names.iter().any(|n| *n == name), "{name} in {names:?}");
    }

    // ファイル明細: one row per file.
    let detail = rows(&book, "ファイル明細");
    assert_eq!(detail.len() - 1, 18);
    let status = col(detail, "状態");
    let path = col(detail, "パス");
    let tampered = detail
        .iter()
        .find(|r| r[path] == s("設計/顧客B/tampered.dwg").as_str())
        .unwrap();
    assert_eq!(tampered[status], "改ざん");

    // 指摘事項: every finding of the JSON, by kind title.
    let sheet = rows(&book, "指摘事項");
    assert_eq!(sheet.len() - 1, expected.len());
    let kind = col(sheet, "種別");
    let fpath = col(sheet, "パス");
    for (title, rel) in [
        ("ラベル改ざん", "設計/顧客B/tampered.dwg"),
        ("ラベル改ざん", "設計/顧客B/broken.dwg.fuda"),
        ("ラベル改ざん", "設計/顧客B/swapped.dwg.fuda"),
        ("ラベル消失", "総務/規程/handbook.txt"),
        ("個人情報の区分不足", "総務/人事/旧社員名簿.csv"),
        ("ラベルなし", "極秘/新型車/memo.txt"),
        ("ラベルなし", "極秘/新型車/schedule.txt"),
        ("未暗号化", "極秘/新型車/plan.txt"),
    ] {
        assert!(
            sheet[1..]
                .iter()
                .any(|r| r[kind] == title && r[fpath] == s(rel).as_str()),
            "finding {title} {rel} in {sheet:#?}"
        );
    }

    // 棚卸差分: the handbook lost its label (reclassified to nothing).
    let review = rows(&book, "棚卸差分");
    assert_eq!(review.len() - 1, 1, "{review:#?}");
    assert_eq!(review[1][0], "区分変更");

    let protected = detail
        .iter()
        .find(|r| r[path] == s("設計/顧客A/assy.dwg.fuda").as_str())
        .unwrap();
    assert_eq!(protected[status], "有効");
    // A Japanese ledger names stores and methods in Japanese.
    assert_eq!(
        protected[col(detail, "ラベル保存先")],
        "保護ファイルのヘッダー"
    );
    assert_eq!(protected[col(detail, "設定方法")], "手動");
    assert_eq!(inv["summary"]["protected"], 4);

    // The JSON has the same content as the workbook.
    assert_eq!(inv["rows"].as_array().unwrap().len(), ledger.len() - 1);
    assert_eq!(inv["files"].as_array().unwrap().len(), detail.len() - 1);
}

#[test]
fn csv_opens_with_a_bom_and_english_headers_follow_lang_en() {
    let admin = User::init("admin");
    let dir = common::workdir();
    let f = dir.path().join("share/設計/bracket.dwg");
    write(&f, "DWG");
    admin.fuda(&["label", "set", "秘", p(&f)]).expect(0);
    let out = common::workdir();

    let csv = out.path().join("ledger.csv");
    admin
        .fuda(&[
            "inventory",
            p(&dir.path().join("share")),
            "--format",
            "csv",
            "--out",
            p(&csv),
        ])
        .expect(0);
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    assert!(lines.next().unwrap().starts_with(&IPA_COLUMNS.join(",")));
    let row = lines.next().unwrap();
    assert!(row.starts_with("設計,顧客図面,"), "{row}");
    assert!(
        row.contains(",2,2,1,2,"),
        "機密性 2, 完全性 2 and 可用性 1 as the policy rates 秘, 重要度 2: {row}"
    );
    for sheet in ["confidential", "files", "findings"] {
        let sibling = out.path().join(format!("ledger-{sheet}.csv"));
        assert!(std::fs::read(&sibling)
            .unwrap()
            .starts_with(b"\xEF\xBB\xBF"));
    }

    // Nested roots do not count a file twice.
    let json = admin
        .fuda(&[
            "inventory",
            p(&dir.path().join("share")),
            p(&dir.path().join("share/設計")),
            "--format",
            "json",
            "--out",
            "-",
        ])
        .expect(0);
    let inv: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(inv["summary"]["files"], 1);
    assert_eq!(inv["format"], "fuda-inventory");
    assert_eq!(inv["rows"][0]["name"], "顧客図面");
    assert_eq!(inv["rows"][0]["files"], 1);
    assert_eq!(inv["rows"][0]["confidentiality"], 2);

    let xlsx = out.path().join("ledger-en.xlsx");
    admin
        .fuda(&[
            "inventory",
            p(&dir.path().join("share")),
            "--lang",
            "en",
            "--out",
            p(&xlsx),
        ])
        .expect(0);
    let Some(book) = read_xlsx(&xlsx) else { return };
    assert_eq!(
        book["order"],
        serde_json::json!(["Asset ledger", "Confidential ledger", "Files", "Findings"])
    );
    let ledger = rows(&book, "Asset ledger");
    assert_eq!(ledger[0][0], "Business category");
    assert_eq!(ledger[0][9], "Confidentiality");
    assert_eq!(ledger[0][12], "Importance");
    assert_eq!(ledger[0][14], "Registered");
    assert_eq!(ledger[1][col(ledger, "Classification")], "Confidential");
}

#[test]
fn the_review_shows_moved_reclassified_removed_and_added_files_and_nothing_else() {
    let admin = User::init("admin");
    let dir = common::workdir();
    let share = dir.path().join("share");
    let f = |rel: &str| share.join(rel);
    for (rel, content) in [
        ("work/moved.txt", "will move"),
        ("work/秘/reclassified.txt", "will be raised"),
        ("work/removed.txt", "will be deleted"),
        ("work/unchanged.txt", "stays"),
        ("work/plain.txt", "unlabeled and stays"),
    ] {
        write(&f(rel), content);
    }
    for rel in [
        "work/moved.txt",
        "work/秘/reclassified.txt",
        "work/removed.txt",
        "work/unchanged.txt",
    ] {
        admin
            .fuda(&["label", "set", "社外秘", p(&f(rel))])
            .expect(0);
    }
    let out = common::workdir();
    let before = out.path().join("before.json");
    admin
        .fuda(&[
            "inventory",
            p(&share),
            "--format",
            "json",
            "--out",
            p(&before),
        ])
        .expect(0);

    std::fs::create_dir_all(f("archive")).unwrap();
    std::fs::rename(f("work/moved.txt"), f("archive/moved.txt")).unwrap();
    admin
        .fuda(&["label", "set", "秘", p(&f("work/秘/reclassified.txt"))])
        .expect(0);
    std::fs::remove_file(f("work/removed.txt")).unwrap();
    write(&f("work/added.txt"), "new this year");
    admin
        .fuda(&["label", "set", "社外秘", p(&f("work/added.txt"))])
        .expect(0);

    let run = admin
        .fuda(&[
            "inventory",
            p(&share),
            "--since",
            p(&before),
            "--format",
            "json",
            "--out",
            "-",
        ])
        .expect(0);
    assert!(
        run.stderr
            .contains("1 added, 1 removed, 1 reclassified, 1 moved"),
        "{}",
        run.stderr
    );
    let inv: Value = serde_json::from_str(&run.stdout).unwrap();
    let review = &inv["review"];
    let changes: Vec<Change> = review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().map(str::to_owned);
            let path = |k: &str| c.get(k).map(|v| path_of(v).to_str().unwrap().to_owned());
            (
                s("kind").unwrap(),
                path("path").unwrap(),
                path("previous_path"),
                s("previous_level"),
                s("level"),
            )
        })
        .collect();
    let s = |rel: &str| f(rel).to_str().unwrap().to_owned();
    let internal = Some("internal".to_owned());
    assert_eq!(
        changes,
        vec![
            (
                "added".into(),
                s("work/added.txt"),
                None,
                None,
                internal.clone()
            ),
            (
                "removed".into(),
                s("work/removed.txt"),
                None,
                internal.clone(),
                None
            ),
            (
                "reclassified".into(),
                s("work/秘/reclassified.txt"),
                None,
                internal.clone(),
                Some("confidential".into())
            ),
            (
                "moved".into(),
                s("archive/moved.txt"),
                Some(s("work/moved.txt")),
                internal.clone(),
                internal.clone()
            ),
        ]
    );
    assert_eq!(inv["findings"], serde_json::json!([]));

    // A finding makes the exit code 1, so cron can alert.
    let lost = f("work/unchanged.txt");
    xattr::remove(&lost, LABEL_ATTR).unwrap();
    let run = admin
        .fuda(&[
            "inventory",
            p(&share),
            "--since",
            p(&before),
            "--format",
            "json",
            "--out",
            "-",
        ])
        .expect(1);
    let inv: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        findings_of(&inv),
        vec![("label-disappeared".to_owned(), s("work/unchanged.txt"))]
    );
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let admin = User::init("admin");
    let dir = common::workdir();
    let share = dir.path().join("share");
    write(&share.join("a.txt"), "a");
    let out = dir.path().join("ledger.xlsx");

    let run = admin
        .fuda(&["inventory", p(&dir.path().join("nope")), "--out", p(&out)])
        .expect(2);
    assert!(
        run.stderr.contains("nope") && run.stderr.contains("cannot read"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    let corrupt = dir.path().join("last-year.json");
    std::fs::write(
        &corrupt,
        "{\"format\": \"fuda-inventory\", \"version\": 1, \"files\": [",
    )
    .unwrap();
    let run = admin
        .fuda(&[
            "inventory",
            p(&share),
            "--since",
            p(&corrupt),
            "--out",
            p(&out),
        ])
        .expect(2);
    assert!(
        run.stderr.contains("last-year.json") && run.stderr.contains("not a fuda inventory"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    // Nowhere to keep the per-file records (stdout: in TMPDIR): the folder is named,
    // nothing is written.
    let missing_tmp = dir.path().join("no-such-tmp");
    let run = admin
        .fuda_env(
            &["inventory", p(&share), "--format", "json", "--out", "-"],
            &[("TMPDIR", p(&missing_tmp))],
        )
        .expect(2);
    assert!(
        run.stderr.contains("no-such-tmp") && run.stderr.contains("temporary file"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let run = admin
        .fuda(&["inventory", p(&share), "--from-service", "--out", p(&out)])
        .expect(2);
    assert!(
        run.stderr.contains("no key service configured"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    // An existing ledger is replaced whole or not at all: no temporary files are left.
    admin
        .fuda(&["inventory", p(&share), "--out", p(&out)])
        .expect(0);
    // A device or FIFO given as --out (`--out /dev/null`) is refused, never replaced by a
    // regular file.
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for format in ["xlsx", "csv", "json"] {
        let run = admin
            .fuda(&[
                "inventory",
                p(&share),
                "--format",
                format,
                "--out",
                p(&fifo),
            ])
            .expect(2);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("fuda-tmp")), "{names:?}");
}

#[test]
fn names_keep_their_bytes_in_json_are_shown_in_nfc_and_paths_too_long_for_windows_are_flagged() {
    let admin = User::init("admin");
    let dir = common::workdir();
    let share = dir.path().join("share");
    // A name saved by a Mac client: が as か + combining voiced mark (NFD).
    let nfd = share.join("営業/\u{304b}\u{3099}いど.txt");
    write(&nfd, "guide");
    // 3 (X:\) + 266 characters below the share: over MAX_PATH.
    let long = share
        .join("a".repeat(100))
        .join("b".repeat(100))
        .join(format!("{}.txt", "c".repeat(60)));
    write(&long, "deep");
    let run = admin
        .fuda(&["inventory", p(&share), "--format", "json", "--out", "-"])
        .expect(1);
    let inv: Value = serde_json::from_str(&run.stdout).unwrap();
    let paths: Vec<PathBuf> = inv["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| path_of(&f["path"]))
        .collect();
    assert!(paths.contains(&nfd), "the exact (NFD) bytes: {paths:?}");
    let out = common::workdir();
    let csv = out.path().join("files.csv");
    admin
        .fuda(&["inventory", p(&share), "--format", "csv", "--out", p(&csv)])
        .expect(1);
    let files = std::fs::read_to_string(csv.with_file_name("files-files.csv")).unwrap();
    let nfc = format!("{}/営業/\u{304c}いど.txt", share.display());
    assert!(files.contains(&nfc), "people read NFC: {files}");
    assert_eq!(
        findings_of(&inv),
        vec![(
            "path-too-long-for-windows".to_owned(),
            long.to_str().unwrap().to_owned()
        )]
    );
}

#[test]
fn a_folder_of_sidecar_labels_is_read_whole_and_one_bad_label_is_found_among_hundreds() {
    use base64::Engine as _;
    let admin = User::init("admin");
    let dir = common::workdir();
    let share = dir.path().join("share");
    // More files than one batch of signatures, so the bad one shares a batch with good ones.
    let many = share.join("many");
    for i in 0..300 {
        write(&many.join(format!("memo{i:03}.txt")), format!("memo {i}"));
    }
    admin
        .fuda(&[
            "label",
            "set",
            "社外秘",
            "--store",
            "sidecar",
            "-r",
            "-q",
            p(&many),
        ])
        .expect(0);
    // Flip one bit of one label's signature inside the index.
    let index_path = many.join(".fuda/labels.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entry = &mut index["labels"]["memo123.txt"];
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(entry.as_str().unwrap())
        .unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    *entry = Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    // Another folder's index is corrupt: its files are reported, the rest is unaffected.
    let broken = share.join("broken");
    write(&broken.join("a.txt"), "a");
    write(&broken.join(".fuda/labels.json"), "{not json");

    let run = admin
        .fuda(&["inventory", p(&share), "--format", "json", "--out", "-"])
        .expect(1);
    let inv: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(inv["summary"]["files"], 301);
    assert_eq!(inv["summary"]["valid"], 299, "{}", inv["summary"]);
    assert_eq!(inv["summary"]["tampered"], 1);
    let file = |name: &str| {
        inv["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| path_of(&f["path"]).ends_with(name))
            .unwrap()
            .clone()
    };
    assert_eq!(file("many/memo123.txt")["status"], "tampered");
    assert_eq!(file("many/memo124.txt")["status"], "valid");
    assert_eq!(file("many/memo124.txt")["store"], "sidecar");
    let unreadable = file("broken/a.txt");
    assert!(
        unreadable["problem"]
            .as_str()
            .unwrap()
            .contains("labels.json"),
        "{unreadable}"
    );
}

#[test]
fn a_repeat_inventory_still_sees_content_changed_behind_a_restored_modification_time() {
    use std::os::unix::fs::PermissionsExt;
    let admin = User::init("admin");
    let dir = common::workdir();
    let share = dir.path().join("share");
    let plan = share.join("plan.txt");
    write(&plan, "budget: 100");
    write(&share.join("notes.txt"), "unlabeled");
    admin
        .fuda(&["label", "set", "社外秘", "-q", p(&plan)])
        .expect(0);
    // Older than the settle time (2 s, in whole seconds), so the first inventory remembers
    // the digests.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let inventory = || {
        let run = admin.fuda(&["inventory", p(&share), "--format", "json", "--out", "-"]);
        serde_json::from_str::<Value>(&run.stdout).unwrap()
    };
    let status = |inv: &Value| {
        inv["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| path_of(&f["path"]).ends_with("plan.txt"))
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&inventory()), "valid");
    let cache = admin.home.path().join(".cache/fuda/content-digests");
    for kept in [
        &cache,
        &admin.home.path().join(".cache/fuda/verified-labels"),
    ] {
        let mode = std::fs::metadata(kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", kept.display());
    }

    // Same size, modification time put back: only the change time tells.
    let modified = std::fs::metadata(&plan).unwrap().modified().unwrap();
    std::fs::write(&plan, "budget: 900").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&plan)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&plan).unwrap().modified().unwrap(),
        modified
    );
    let inv = inventory();
    assert_eq!(status(&inv), "stale", "{}", inv["files"]);

    // A cache someone altered is ignored, not believed.
    let mut bytes = std::fs::read(&cache).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    std::fs::write(&cache, &bytes).unwrap();
    let inv = inventory();
    assert_eq!(status(&inv), "stale");
    assert_eq!(inv["summary"]["files"], 2);
}
