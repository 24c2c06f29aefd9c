//! The ledger: an [`Inventory`] written as the documents people and auditors use.
//!
//! - [`xlsx`] (the default): sheets 情報資産管理台帳 (one row per asset, columns A–O in the
//!   order of IPA's 付録7 ledger, then the columns the automotive guideline adds),
//!   機密情報台帳 (the rows whose level has IPA 機密性 2, i.e. 秘 and 極秘), ファイル明細
//!   (one row per file), 指摘事項 (findings) and, for a review, 棚卸差分;
//! - [`csv`]: the same sheets as UTF-8 CSV files with a byte-order mark, so Excel opens
//!   the Japanese text correctly;
//! - [`json`]: the inventory itself, for scripts and as the `--since` input of next year.
//!
//! Every file is written atomically (temporary file, fsync, rename): an interrupted run
//! leaves the previous ledger in place. [`sheets`] gives the tables in either language.

pub mod company;
pub mod csv;
pub mod json;
pub mod pdf;
pub mod xlsx;

use std::path::{Path, PathBuf};

use fuda_core::label::{Method, Status};
use fuda_core::policy::{Language, Policy};

pub use crate::calendar::date;
use crate::inventory::{display_path, AssetRow, FileEntry, Finding, Inventory, Review, Severity};

/// Permissions of written ledgers: owner and group (auditors) may read, others may not.
pub const OUTPUT_MODE: u32 = 0o640;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Excel workbook.
    Xlsx,
    /// CSV files (UTF-8 with BOM), one per sheet.
    Csv,
    /// The inventory as JSON.
    Json,
    /// The workbook printed to PDF by LibreOffice ([`pdf`]).
    Pdf,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Pdf => "pdf",
        }
    }
}

/// Errors writing a ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Writing a file failed; nothing was replaced.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The xlsx writer refused the workbook.
    #[error("cannot write the workbook {path}: {reason}")]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The workbook could not be converted to PDF.
    #[error("cannot write the PDF {path}: {reason}")]
    Pdf {
        /// The PDF.
        path: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
}

/// A cell value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A calendar date (the organisation's day: [`date_cell`]); a real date in a
    /// workbook, `YYYY-MM-DD` in CSV.
    Date(time::Date),
    /// Nothing.
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
}

impl From<Option<&str>> for Cell {
    fn from(s: Option<&str>) -> Cell {
        s.map_or(Cell::Empty, Cell::from)
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map_or(Cell::Empty, Cell::Text)
    }
}

/// One table of the ledger; rows are produced as they are written, so a million-file
/// inventory is never held in memory (a row is an error when the inventory's records
/// cannot be read back).
pub struct Sheet<'a> {
    /// Sheet name in the chosen language.
    pub name: &'static str,
    /// Short ascii name (CSV file suffix).
    pub slug: &'static str,
    /// Column headings.
    pub header: &'static [&'static str],
    /// The rows.
    pub rows: Box<dyn Iterator<Item = std::io::Result<Vec<Cell>>> + 'a>,
}

/// The ledger's columns in IPA order (A–O), then the automotive guideline's additions.
pub const LEDGER_HEADER_JA: [&str; 25] = [
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
];

/// [`LEDGER_HEADER_JA`] in English.
pub const LEDGER_HEADER_EN: [&str; 25] = [
    "Business category",
    "Asset name",
    "Notes",
    "Users",
    "Managing department",
    "Medium / storage",
    "Personal information",
    "Sensitive personal information",
    "Specific personal information (My Number)",
    "Confidentiality",
    "Integrity",
    "Availability",
    "Importance",
    "Retention period",
    "Registered",
    "Classification",
    "Custodian",
    "Contact",
    "Disclosed to / received from",
    "Storage location",
    "Encryption",
    "Files",
    "Last modified",
    "Last inventoried",
    "Ledger ID",
];

const FILES_HEADER_JA: [&str; 15] = [
    "パス",
    "台帳ID",
    "機密区分",
    "状態",
    "ラベル保存先",
    "所有者",
    "部署",
    "設定方法",
    "設定日",
    "文書ID",
    "SHA-256",
    "サイズ",
    "最終更新日",
    "暗号化",
    "問題",
];
const FILES_HEADER_EN: [&str; 15] = [
    "Path",
    "Ledger ID",
    "Classification",
    "Status",
    "Label store",
    "Owner",
    "Department",
    "Method",
    "Labeled on",
    "Document ID",
    "SHA-256",
    "Size",
    "Last modified",
    "Protected",
    "Problem",
];
const FINDINGS_HEADER_JA: [&str; 5] = ["緊急度", "種別", "パス", "機密区分", "内容"];
const FINDINGS_HEADER_EN: [&str; 5] = ["Severity", "Kind", "Path", "Classification", "Detail"];
const REVIEW_HEADER_JA: [&str; 6] = ["変更", "パス", "旧パス", "旧機密区分", "機密区分", "文書ID"];
const REVIEW_HEADER_EN: [&str; 6] = [
    "Change",
    "Path",
    "Previous path",
    "Previous classification",
    "Classification",
    "Document ID",
];

/// The calendar day of a Unix time at the organisation's offset from UTC, as a date cell.
pub fn date_cell(secs: i64, offset: time::UtcOffset) -> Cell {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_or(Cell::Empty, |t| Cell::Date(t.to_offset(offset).date()))
}

fn yes_no(b: bool, ja: bool) -> Cell {
    Cell::from(match (b, ja) {
        (true, true) => "有",
        (false, true) => "無",
        (true, false) => "Yes",
        (false, false) => "No",
    })
}

fn level_name(policy: &Policy, id: Option<&str>, lang: Language) -> Cell {
    match id {
        None => Cell::Empty,
        Some(id) => Cell::Text(
            policy
                .level(id)
                .map_or_else(|| id.to_owned(), |l| l.display_name(lang).to_owned()),
        ),
    }
}

fn status_name(s: Status, ja: bool) -> &'static str {
    if !ja {
        return s.as_str();
    }
    match s {
        Status::Valid => "有効",
        Status::Stale => "内容変更あり",
        Status::Unverified => "署名者不明",
        Status::Tampered => "改ざん",
        Status::Missing => "ラベルなし",
        Status::Replayed => "旧ラベル再使用",
    }
}

/// Where a label was found, as the ledger names it.
fn store_name(store: &str, ja: bool) -> &str {
    let (j, e) = match store {
        "xattr" => ("拡張属性", "Extended attribute"),
        "ooxml" => ("文書内 (Office)", "Inside the document (Office)"),
        "sidecar" => ("フォルダ索引 (.fuda)", "Folder index (.fuda)"),
        "envelope" => ("保護ファイルのヘッダー", "Protected file header"),
        other => return other,
    };
    if ja {
        j
    } else {
        e
    }
}

/// How a label was set, as the ledger names it.
fn method_name(method: Method, ja: bool) -> &'static str {
    match (method, ja) {
        (Method::Manual, true) => "手動",
        (Method::Auto, true) => "自動 (規則)",
        (Method::Default, true) => "既定の区分",
        (Method::Imported, true) => "取り込み",
        (Method::Opened, true) => "保護文書から取り出し (閲覧)",
        (Method::Exported, true) => "保護文書から取り出し (エクスポート)",
        (Method::Recovered, true) => "復旧鍵で復号",
        (Method::Manual, false) => "Manual",
        (Method::Auto, false) => "Automatic (rule)",
        (Method::Default, false) => "Default level",
        (Method::Imported, false) => "Imported",
        (Method::Opened, false) => "Opened from a protected document",
        (Method::Exported, false) => "Exported from a protected document",
        (Method::Recovered, false) => "Recovered with the recovery key",
    }
}

/// Most folders listed in 保管場所 before "and N more".
const MAX_LOCATIONS: usize = 5;

fn ledger_row(policy: &Policy, r: &AssetRow, lang: Language) -> Vec<Cell> {
    let ja = lang == Language::Ja;
    let mut locations = r
        .locations
        .iter()
        .take(MAX_LOCATIONS)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if r.locations.len() > MAX_LOCATIONS {
        let more = r.locations.len() - MAX_LOCATIONS;
        locations.push_str(&if ja {
            format!("\n他 {more} か所")
        } else {
            format!("\nand {more} more")
        });
    }
    let encryption = match (r.encrypted, ja) {
        (0, true) => "なし".to_owned(),
        (0, false) => "None".to_owned(),
        (n, true) if n == r.files => format!("全件 ({n})"),
        (n, false) if n == r.files => format!("All ({n})"),
        (n, true) => format!("一部 ({n}/{})", r.files),
        (n, false) => format!("Some ({n}/{})", r.files),
    };
    let note = match (&r.asset, ja) {
        (None, true) => Some("資産定義に該当なし (フォルダ・機密区分ごとに集計)".to_owned()),
        _ => r.note.clone(),
    };
    vec![
        r.category.clone().into(),
        r.name.clone().into(),
        note.into(),
        r.users.clone().into(),
        r.department.clone().into(),
        r.medium.clone().into(),
        yes_no(r.personal_data, ja),
        yes_no(r.sensitive_personal_data, ja),
        yes_no(r.specific_personal_data, ja),
        Cell::Int(r.confidentiality.into()),
        Cell::Int(r.integrity.into()),
        Cell::Int(r.availability.into()),
        Cell::Int(r.importance.into()),
        r.retention.clone().into(),
        r.registered
            .map_or(Cell::Empty, |t| date_cell(t, policy.utc_offset)),
        level_name(policy, Some(&r.level), lang),
        r.custodian.clone().into(),
        r.contact.clone().into(),
        r.recipients.clone().into(),
        locations.into(),
        encryption.into(),
        Cell::Int(r.files as i64),
        date_cell(r.last_modified, policy.utc_offset),
        date_cell(r.inventoried_at, policy.utc_offset),
        r.id.clone().into(),
    ]
}

/// The ファイル明細 row of one file.
pub fn file_row(policy: &Policy, f: &FileEntry, lang: Language) -> Vec<Cell> {
    let ja = lang == Language::Ja;
    vec![
        display_path(&f.path).into_owned().into(),
        f.row.as_deref().map(str::to_owned).into(),
        level_name(policy, f.level.as_deref(), lang),
        status_name(f.status, ja).into(),
        f.store.as_deref().map(|s| store_name(s, ja)).into(),
        f.custodian().into(),
        f.department().into(),
        f.method.map(|m| method_name(m, ja)).into(),
        f.set_at
            .map_or(Cell::Empty, |t| date_cell(t, policy.utc_offset)),
        f.doc.map(|d| d.to_string()).into(),
        f.sha256.map(|d| d.to_string()).into(),
        Cell::Int(f.size.min(i64::MAX as u64) as i64),
        date_cell(f.modified, policy.utc_offset),
        yes_no(f.protected, ja),
        f.problem.clone().into(),
    ]
}

fn finding_row(policy: &Policy, f: &Finding, lang: Language) -> Vec<Cell> {
    let ja = lang == Language::Ja;
    let severity = match (f.severity, ja) {
        (Severity::High, true) => "高",
        (Severity::Medium, true) => "中",
        (Severity::Low, true) => "低",
        (Severity::High, false) => "high",
        (Severity::Medium, false) => "medium",
        (Severity::Low, false) => "low",
    };
    vec![
        severity.into(),
        f.kind.title(ja).into(),
        display_path(&f.path).into_owned().into(),
        level_name(policy, f.level.as_deref(), lang),
        if ja {
            f.detail_ja.clone()
        } else {
            f.detail.clone()
        }
        .into(),
    ]
}

/// The short name of the ファイル明細 sheet.
pub const FILES_SLUG: &str = "files";

/// The name of the ファイル明細 sheet in `lang`.
pub fn files_sheet_name(lang: Language) -> &'static str {
    match lang {
        Language::Ja => "ファイル明細",
        Language::En => "Files",
    }
}

/// The headings of the ファイル明細 sheet in `lang`.
pub fn files_header(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::Ja => &FILES_HEADER_JA,
        Language::En => &FILES_HEADER_EN,
    }
}

/// The ledger's sheets for `inventory` in `lang`, in workbook order.
pub fn sheets<'a>(inventory: &'a Inventory, policy: &'a Policy, lang: Language) -> Vec<Sheet<'a>> {
    let mut out = Vec::from(ledger_sheets(policy, lang, &inventory.rows));
    out.push(files_sheet(policy, lang, Box::new(inventory.files.iter())));
    out.push(findings_sheet(
        policy,
        lang,
        Box::new(inventory.findings.iter().cloned().map(Ok)),
    ));
    out.extend(
        inventory
            .review
            .as_ref()
            .map(|r| review_sheet(policy, lang, r)),
    );
    out
}

/// 情報資産管理台帳 and 機密情報台帳 of `rows`.
pub(crate) fn ledger_sheets<'a>(
    policy: &'a Policy,
    lang: Language,
    rows: &'a [AssetRow],
) -> [Sheet<'a>; 2] {
    let ja = lang == Language::Ja;
    let header = if ja {
        &LEDGER_HEADER_JA
    } else {
        &LEDGER_HEADER_EN
    };
    let confidential = move |r: &&AssetRow| {
        policy
            .level(&r.level)
            .map_or(r.confidentiality >= 2, |l| l.ipa_confidentiality >= 2)
    };
    [
        Sheet {
            name: if ja {
                "情報資産管理台帳"
            } else {
                "Asset ledger"
            },
            slug: "ledger",
            header,
            rows: Box::new(rows.iter().map(move |r| Ok(ledger_row(policy, r, lang)))),
        },
        Sheet {
            name: if ja {
                "機密情報台帳"
            } else {
                "Confidential ledger"
            },
            slug: "confidential",
            header,
            rows: Box::new(
                rows.iter()
                    .filter(confidential)
                    .map(move |r| Ok(ledger_row(policy, r, lang))),
            ),
        },
    ]
}

/// The records of files, as a list of them yields them.
pub(crate) type Files<'a> = Box<dyn Iterator<Item = std::io::Result<FileEntry>> + 'a>;

/// ファイル明細 of `files`.
pub(crate) fn files_sheet<'a>(policy: &'a Policy, lang: Language, files: Files<'a>) -> Sheet<'a> {
    Sheet {
        name: files_sheet_name(lang),
        slug: FILES_SLUG,
        header: files_header(lang),
        rows: Box::new(files.map(move |f| f.map(|f| file_row(policy, &f, lang)))),
    }
}

/// 指摘事項 of `findings`.
pub(crate) fn findings_sheet<'a>(
    policy: &'a Policy,
    lang: Language,
    findings: Box<dyn Iterator<Item = std::io::Result<Finding>> + 'a>,
) -> Sheet<'a> {
    let ja = lang == Language::Ja;
    Sheet {
        name: if ja { "指摘事項" } else { "Findings" },
        slug: "findings",
        header: if ja {
            &FINDINGS_HEADER_JA
        } else {
            &FINDINGS_HEADER_EN
        },
        rows: Box::new(findings.map(move |f| f.map(|f| finding_row(policy, &f, lang)))),
    }
}

/// 棚卸差分 of `review`.
pub(crate) fn review_sheet<'a>(
    policy: &'a Policy,
    lang: Language,
    review: &'a Review,
) -> Sheet<'a> {
    let ja = lang == Language::Ja;
    Sheet {
        name: if ja { "棚卸差分" } else { "Review" },
        slug: "review",
        header: if ja {
            &REVIEW_HEADER_JA
        } else {
            &REVIEW_HEADER_EN
        },
        rows: Box::new(review.changes.iter().map(move |c| {
            Ok(vec![
                c.kind.title(ja).into(),
                display_path(&c.path).into_owned().into(),
                c.previous_path
                    .as_deref()
                    .map(|p| display_path(p).into_owned())
                    .into(),
                level_name(policy, c.previous_level.as_deref(), lang),
                level_name(policy, c.level.as_deref(), lang),
                c.doc.map(|d| d.to_string()).into(),
            ])
        })),
    }
}

/// Writes the ledger in `format` to `dest` (for CSV, `dest` gets the main sheet and the
/// other sheets go beside it as `NAME-SLUG.csv`). Returns the files written.
pub fn write(
    inventory: &Inventory,
    policy: &Policy,
    format: Format,
    lang: Language,
    dest: &Path,
) -> Result<Vec<PathBuf>, LedgerError> {
    match format {
        Format::Xlsx => {
            write_xlsx(inventory, policy, lang, dest)?;
            Ok(vec![dest.to_owned()])
        }
        Format::Pdf => {
            let staging = pdf::Staging::beside(dest)?;
            write_xlsx(inventory, policy, lang, &staging.workbook())?;
            staging.convert(dest)?;
            Ok(vec![dest.to_owned()])
        }
        Format::Csv => csv::write(sheets(inventory, policy, lang), dest),
        Format::Json => {
            json::write(inventory, dest)?;
            Ok(vec![dest.to_owned()])
        }
    }
}

fn write_xlsx(
    inventory: &Inventory,
    policy: &Policy,
    lang: Language,
    dest: &Path,
) -> Result<(), LedgerError> {
    let mut workbook = xlsx::Writer::new(dest, policy, lang, inventory.generated_at)?;
    for file in inventory.files.iter() {
        let file = file.map_err(|source| LedgerError::Io {
            path: dest.to_owned(),
            source,
        })?;
        workbook.add_files(std::slice::from_ref(&file))?;
    }
    workbook.finish(inventory)
}

/// Display width of text in a spreadsheet column: its widest line, East Asian wide and
/// full-width characters counting 2.
pub fn text_width(s: &str) -> usize {
    use unicode_width::UnicodeWidthStr as _;
    s.lines().map(|line| line.width()).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_are_the_organisations_calendar_day() {
        // 2026-11-25 15:30 UTC is already the 26th in Tokyo.
        let t = 1_795_620_600;
        assert_eq!(date(t, time::macros::offset!(+9)), "2026-11-26");
        assert_eq!(date(t, time::UtcOffset::UTC), "2026-11-25");
        assert_eq!(date(t, time::macros::offset!(-10)), "2026-11-25");
    }
}
