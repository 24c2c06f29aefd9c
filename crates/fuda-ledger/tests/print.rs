//! A ledger people print and sign: every sheet prints landscape, one page wide, with the
//! header row on every page, the organisation/policy/time at the top and "page x / y" at
//! the bottom; `--format pdf` is that workbook printed by LibreOffice; dates are real
//! Excel dates; a Japanese ledger is Japanese throughout.
//!
//! The tools are real: LibreOffice (soffice) converts, poppler's pdfinfo/pdftotext read
//! the PDF, openpyxl reads the workbook. A missing tool skips the test unless
//! FUDA_REQUIRE_TOOLS=1 (CI) makes it a failure.

use std::path::Path;
use std::process::Command;

use fuda_core::label::{Method, Status};
use fuda_core::policy::{Language, Policy};
use fuda_ledger::inventory::{AssetRow, FileEntry, Finding, FindingKind, Inventory, PolicyInfo};
use fuda_ledger::ledger::{self, Format};

fn require(tool: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var("FUDA_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "FUDA_REQUIRE_TOOLS=1 but {tool} is missing"
        );
        eprintln!("skipped: {tool} is missing");
    }
    present
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn policy() -> Policy {
    let text = fuda_core::policy::BUILTIN[0].1.replacen(
        "name = \"fuda default (4 levels)\"",
        "name = \"fuda default (4 levels)\"\norganisation = \"株式会社サンプル製作所 & Co\"",
        1,
    );
    let policy = Policy::from_toml(&text, Path::new("p.toml")).unwrap();
    assert_eq!(
        policy.organisation.as_deref(),
        Some("株式会社サンプル製作所 & Co")
    );
    policy
}

/// 2026-04-01 09:00 +09:00.
const APRIL_FIRST: i64 = 1_775_001_600;

/// An inventory of `assets` assets of one file each, with a finding per asset.
fn inventory(assets: usize) -> Inventory {
    let mut rows = Vec::new();
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for i in 0..assets {
        let level = ["strictly-confidential", "confidential", "internal"][i % 3];
        let path = format!("/srv/設計/製品{i:02}/図面-{i:02}.dwg");
        rows.push(AssetRow {
            id: format!("{level}@/srv/設計/製品{i:02}"),
            asset: None,
            category: Some("設計".into()),
            name: format!("製品{i:02} 設計図面"),
            note: None,
            users: Some("設計部".into()),
            department: Some("設計部".into()),
            medium: Some("ファイルサーバ".into()),
            personal_data: false,
            sensitive_personal_data: false,
            specific_personal_data: false,
            confidentiality: 2,
            integrity: 1,
            availability: 1,
            importance: 2,
            retention: Some("10年".into()),
            registered: Some(APRIL_FIRST),
            level: level.into(),
            custodian: Some("tanaka".into()),
            contact: Some("内線 1234".into()),
            recipients: None,
            locations: vec![format!("/srv/設計/製品{i:02}")],
            encrypted: 0,
            files: 1,
            last_modified: APRIL_FIRST,
            inventoried_at: APRIL_FIRST,
        });
        files.push(FileEntry {
            path: path.clone().into(),
            root: "/srv".into(),
            size: 1000,
            modified: APRIL_FIRST,
            status: Status::Valid,
            store: Some("xattr".into()),
            level: Some(level.into()),
            owner: Some("fuda-hook".into()),
            dept: Some("システム".into()),
            file_owner: Some("tanaka".into()),
            method: Some(Method::Auto),
            set_at: Some(APRIL_FIRST),
            ..FileEntry::default()
        });
        findings.push(Finding::new(
            FindingKind::Unprotected,
            path,
            Some(level.into()),
            "must be encrypted",
            "暗号化が必須です",
        ));
    }
    Inventory {
        format: "fuda-inventory".into(),
        version: 2,
        generated_at: APRIL_FIRST,
        policy: PolicyInfo {
            id: "default".into(),
            version: 1,
        },
        roots: vec!["/srv".into()],
        summary: Default::default(),
        rows,
        findings,
        review: None,
        files: files.into(),
    }
}

/// Reads the workbook with openpyxl: per sheet its rows (dates as `date:YYYY-MM-DD`,
/// with their number format), print setup, header and footer.
fn read_xlsx(path: &Path) -> Option<serde_json::Value> {
    const SCRIPT: &str = r#"
import json, sys, datetime
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"order": wb.sheetnames}
def value(c):
    if isinstance(c.value, datetime.datetime):
        return "date:" + c.value.date().isoformat() + " " + c.number_format
    return c.value
for ws in wb.worksheets:
    out[ws.title] = {
        "rows": [[value(c) for c in row] for row in ws.iter_rows()],
        "orientation": ws.page_setup.orientation,
        "paper": ws.page_setup.paperSize,
        "fit_width": ws.page_setup.fitToWidth,
        "fit_height": ws.page_setup.fitToHeight,
        "fit": ws.sheet_properties.pageSetUpPr.fitToPage,
        "repeat_rows": ws.print_title_rows,
        "header": ws.oddHeader.left.text + "|" + ws.oddHeader.center.text + "|" + ws.oddHeader.right.text,
        "footer": ws.oddFooter.center.text,
    }
print(json.dumps(out, ensure_ascii=False))
"#;
    let present = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("python3 with openpyxl", present) {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
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
fn every_sheet_prints_landscape_one_page_wide_with_its_header_row_on_each_page() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("台帳.xlsx");
    let policy = policy();
    ledger::write(&inventory(20), &policy, Format::Xlsx, Language::Ja, &dest).unwrap();
    let Some(book) = read_xlsx(&dest) else { return };
    let order: Vec<String> = serde_json::from_value(book["order"].clone()).unwrap();
    assert_eq!(
        order,
        [
            "情報資産管理台帳",
            "機密情報台帳",
            "ファイル明細",
            "指摘事項"
        ]
    );
    for name in &order {
        let sheet = &book[name.as_str()];
        assert_eq!(sheet["orientation"], "landscape", "{name}");
        assert_eq!(sheet["fit"], true, "{name}");
        // fitToWidth is 1 when the file leaves it out (ECMA-376).
        assert_eq!(sheet["fit_width"].as_u64().unwrap_or(1), 1, "{name}");
        assert_eq!(
            sheet["fit_height"], 0,
            "{name}: as many pages long as it takes"
        );
        assert_eq!(sheet["repeat_rows"], "$1:$1", "{name}");
        let header = sheet["header"].as_str().unwrap();
        // `&` is a control character in a page header: written doubled, printed once.
        assert!(
            header.starts_with(&format!("株式会社サンプル製作所 && Co|{name}|")),
            "{header}"
        );
        assert!(
            header.ends_with("ポリシー default v1  作成 2026-04-01 09:00 +09:00"),
            "{header}"
        );
        assert_eq!(sheet["footer"], "&P / &N ページ", "{name}");
    }
    // The 25-column ledger goes on A3 (8), the five-column findings on A4 (9).
    assert_eq!(book["情報資産管理台帳"]["paper"], 8);
    assert_eq!(book["指摘事項"]["paper"], 9);
}

#[test]
fn a_japanese_ledger_is_japanese_throughout_and_its_dates_are_dates() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("台帳.xlsx");
    ledger::write(&inventory(3), &policy(), Format::Xlsx, Language::Ja, &dest).unwrap();
    let Some(book) = read_xlsx(&dest) else { return };
    let ledger = book["情報資産管理台帳"]["rows"].as_array().unwrap();
    // 登録日 (O), 最終更新日, 最終棚卸日: dates formatted as dates, not text.
    for col in [14, 22, 23] {
        assert_eq!(ledger[1][col], "date:2026-04-01 yyyy-mm-dd", "column {col}");
    }
    let files = book["ファイル明細"]["rows"].as_array().unwrap();
    let header: Vec<&str> = files[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let cell = |name: &str| &files[1][header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("ラベル保存先"), "拡張属性");
    assert_eq!(cell("設定方法"), "自動 (規則)");
    assert_eq!(cell("状態"), "有効");
    assert_eq!(cell("機密区分"), "極秘");
    assert_eq!(cell("設定日"), "date:2026-04-01 yyyy-mm-dd");
    // A rule labeled the file under the hook's account: the owner is the file's owner,
    // and no department is made up from the hook's.
    assert_eq!(cell("所有者"), "tanaka");
    assert_eq!(*cell("部署"), serde_json::Value::Null);
    let findings = book["指摘事項"]["rows"].as_array().unwrap();
    assert_eq!(findings[1][1], "未暗号化");

    let en = dir.path().join("ledger.xlsx");
    ledger::write(&inventory(3), &policy(), Format::Xlsx, Language::En, &en).unwrap();
    let book = read_xlsx(&en).unwrap();
    let files = book["Files"]["rows"].as_array().unwrap();
    assert_eq!(files[1][2], "Strictly confidential");
    assert_eq!(files[1][4], "Extended attribute");
    assert_eq!(files[1][7], "Automatic (rule)");
    assert_eq!(book["Files"]["footer"], "Page &P / &N");
}

/// Pages of a PDF, and the text of each.
fn pdf_pages(pdf: &Path) -> Vec<String> {
    let info = Command::new("pdfinfo").arg(pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (1..=pages)
        .map(|n| {
            let out = Command::new("pdftotext")
                .args(["-layout", "-f", &n.to_string(), "-l", &n.to_string()])
                .arg(pdf)
                .arg("-")
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        })
        .collect()
}

#[test]
fn a_ledger_of_twenty_assets_prints_to_pdf_one_page_wide_and_two_pages_long_per_sheet() {
    if !require("LibreOffice (soffice)", runs("soffice", "--version"))
        || !require("poppler-utils (pdfinfo)", runs("pdfinfo", "-v"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("台帳.pdf");
    ledger::write(&inventory(20), &policy(), Format::Pdf, Language::Ja, &dest).unwrap();
    // Nothing but the PDF is left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["台帳.pdf"]);
    let pages = pdf_pages(&dest);
    // Sheets print in order; each page names its sheet in the page header.
    let sheets = [
        "情報資産管理台帳",
        "機密情報台帳",
        "ファイル明細",
        "指摘事項",
    ];
    let first_headings = ["業務分類", "業務分類", "パス", "緊急度"];
    let mut per_sheet = vec![0; sheets.len()];
    for (n, text) in pages.iter().enumerate() {
        let sheet = sheets
            .iter()
            .position(|s| text.contains(&format!("{s} ")) || text.contains(&format!("{s}\n")))
            .unwrap_or_else(|| panic!("page {} names no sheet:\n{text}", n + 1));
        per_sheet[sheet] += 1;
        // The header row repeats on every page, and the page footer counts pages.
        assert!(
            text.contains(first_headings[sheet]),
            "page {} has no header row:\n{text}",
            n + 1
        );
        assert!(
            text.contains(&format!("{} / {} ページ", n + 1, pages.len())),
            "page {} has no page number:\n{text}",
            n + 1
        );
        assert!(text.contains("株式会社サンプル製作所 & Co"), "{text}");
        // One page wide: the last column of the ledger is on the same page as the first.
        if sheet < 2 {
            assert!(text.contains("台帳ID"), "page {} is cut:\n{text}", n + 1);
        }
    }
    for (sheet, count) in sheets.iter().zip(&per_sheet) {
        assert!(
            (1..=2).contains(count),
            "{sheet} prints on {count} pages: {per_sheet:?}"
        );
    }
    // The Japanese font is embedded.
    let fonts = Command::new("pdffonts").arg(&dest).output().unwrap();
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    let embedded = |l: &str| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        fields.len() >= 5 && fields[fields.len() - 5] == "yes"
    };
    assert!(
        fonts.lines().count() > 2 && fonts.lines().skip(2).all(embedded),
        "every font embedded:\n{fonts}"
    );
}

#[test]
fn without_libreoffice_the_pdf_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("台帳.pdf");
    let staging = ledger::pdf::Staging::beside(&dest).unwrap();
    ledger::write(
        &inventory(2),
        &policy(),
        Format::Xlsx,
        Language::Ja,
        &staging.workbook(),
    )
    .unwrap();
    let err = staging
        .convert_with(&dir.path().join("no-soffice"), &dest)
        .unwrap_err()
        .to_string();
    assert!(err.contains("LibreOffice"), "{err}");
    assert!(err.contains("not installed"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
