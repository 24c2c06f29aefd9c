//! The company ledger ([`crate::company::CompanyLedger`]) as a workbook, PDF, CSV or
//! JSON: the sheets of `fuda inventory` — 情報資産管理台帳, 機密情報台帳, ファイル明細
//! (`machine:path`), 指摘事項, 棚卸差分 — after a first sheet, 報告状況 (Sources), that
//! lists every machine with its last report and says whether the ledger is complete
//! (its name ends in 「(不完全)」 / "(incomplete)" when a machine is overdue).
//!
//! The JSON is an inventory JSON (`fuda-inventory`, version 2) with the machines added,
//! so next year's `--since` reads it like any other.

use std::io::Write;
use std::path::{Path, PathBuf};

use fuda_core::policy::{Language, Policy};
use serde::Serialize;

use super::{Cell, Format, LedgerError, Sheet};
use crate::company::{CompanyLedger, Source};
use crate::inventory::{AssetRow, PolicyInfo, Review, Summary, FORMAT, VERSION};

const SOURCES_HEADER_JA: [&str; 6] = [
    "マシン",
    "種別",
    "最終報告",
    "報告間隔 (時間)",
    "ファイル数",
    "状態",
];
const SOURCES_HEADER_EN: [&str; 6] = [
    "Machine",
    "Kind",
    "Last report",
    "Interval (hours)",
    "Files",
    "State",
];

/// A moment as people read it: `YYYY-MM-DD HH:MM` at the organisation's offset.
fn moment(secs: i64, offset: time::UtcOffset) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t.to_offset(offset))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

fn source_row(policy: &Policy, s: &Source, now: i64, ja: bool) -> Vec<Cell> {
    let kind = match (s.kind.as_str(), ja) {
        ("hook", true) => "ファイルサーバ (フック)",
        ("hook", false) => "File server (hook)",
        (_, true) => "マシン",
        (_, false) => "Machine",
    };
    let state = match (s.overdue(now), s.last_report_at.is_some(), ja) {
        (false, _, true) => "報告あり",
        (false, _, false) => "Reporting",
        (true, true, true) => "報告遅延: この台帳には含まれない変更があり得ます",
        (true, true, false) => "Overdue: changes since its last report are missing",
        (true, false, true) => "未報告: この台帳にファイルがありません",
        (true, false, false) => "Never reported: none of its files are here",
    };
    vec![
        s.name.clone().into(),
        kind.into(),
        s.last_report_at
            .map(|t| moment(t, policy.utc_offset))
            .into(),
        Cell::Text(format!("{:.1}", f64::from(s.expected_interval_s) / 3600.0)),
        Cell::Int(s.files.min(i64::MAX as u64) as i64),
        state.into(),
    ]
}

/// 報告状況: a line for the whole ledger, then every machine.
fn sources_sheet<'a>(ledger: &'a CompanyLedger, policy: &'a Policy, lang: Language) -> Sheet<'a> {
    let ja = lang == Language::Ja;
    let complete = ledger.complete();
    let whole = {
        let n = ledger.overdue.len();
        let names = ledger.overdue.join(", ");
        let state = match (complete, ja) {
            (true, true) => format!(
                "完全: 全 {} 台が間隔内に報告しています",
                ledger.sources.len()
            ),
            (true, false) => format!(
                "Complete: all {} machines reported within their interval",
                ledger.sources.len()
            ),
            (false, true) => format!("不完全: {n} 台が報告していません ({names})"),
            (false, false) => format!("Incomplete: {n} machines have not reported ({names})"),
        };
        vec![
            Cell::from(if ja { "(全体)" } else { "(all)" }),
            Cell::Empty,
            Cell::Text(moment(ledger.generated_at, policy.utc_offset)),
            Cell::Empty,
            Cell::Int(ledger.summary.files as i64),
            state.into(),
        ]
    };
    let now = ledger.generated_at;
    Sheet {
        name: match (complete, ja) {
            (true, true) => "報告状況",
            (false, true) => "報告状況 (不完全)",
            (true, false) => "Sources",
            (false, false) => "Sources (incomplete)",
        },
        slug: "sources",
        header: if ja {
            &SOURCES_HEADER_JA
        } else {
            &SOURCES_HEADER_EN
        },
        rows: Box::new(
            std::iter::once(Ok(whole)).chain(
                ledger
                    .sources
                    .iter()
                    .map(move |s| Ok(source_row(policy, s, now, ja))),
            ),
        ),
    }
}

/// The company ledger's sheets in workbook order.
pub fn sheets<'a>(ledger: &'a CompanyLedger, policy: &'a Policy, lang: Language) -> Vec<Sheet<'a>> {
    let mut out = vec![sources_sheet(ledger, policy, lang)];
    out.extend(super::ledger_sheets(policy, lang, &ledger.rows));
    out.push(super::files_sheet(
        policy,
        lang,
        Box::new(ledger.files.iter()),
    ));
    out.push(super::findings_sheet(
        policy,
        lang,
        Box::new(ledger.findings.iter()),
    ));
    out.extend(
        ledger
            .review
            .as_ref()
            .map(|r| super::review_sheet(policy, lang, r)),
    );
    out
}

/// Files handed to the workbook at a time.
const BATCH: usize = 1024;

fn write_xlsx(
    ledger: &CompanyLedger,
    policy: &Policy,
    lang: Language,
    dest: &Path,
) -> Result<(), LedgerError> {
    let mut workbook = super::xlsx::Writer::new(dest, policy, lang, ledger.generated_at)?;
    let mut batch = Vec::with_capacity(BATCH);
    for file in ledger.files.iter() {
        batch.push(file.map_err(|source| LedgerError::Io {
            path: dest.to_owned(),
            source,
        })?);
        if batch.len() == BATCH {
            workbook.add_files(&batch)?;
            batch.clear();
        }
    }
    workbook.add_files(&batch)?;
    workbook.finish_sheets(sheets(ledger, policy, lang))
}

/// Writes the company ledger in `format` to `dest` (CSV: the other sheets beside it, as
/// `NAME-SLUG.csv`); each file atomically. Returns the files written.
pub fn write(
    ledger: &CompanyLedger,
    policy: &Policy,
    format: Format,
    lang: Language,
    dest: &Path,
) -> Result<Vec<PathBuf>, LedgerError> {
    match format {
        Format::Xlsx => write_xlsx(ledger, policy, lang, dest)?,
        Format::Pdf => {
            let staging = super::pdf::Staging::beside(dest)?;
            write_xlsx(ledger, policy, lang, &staging.workbook())?;
            staging.convert(dest)?;
        }
        Format::Csv => {
            // The ledger itself is the file named; 報告状況 goes beside it like the rest.
            let mut sheets = sheets(ledger, policy, lang);
            let sources = sheets.remove(0);
            sheets.insert(1, sources);
            return super::csv::write(sheets, dest);
        }
        Format::Json => {
            let io = |source| LedgerError::Io {
                path: dest.to_owned(),
                source,
            };
            let mut tmp =
                fuda_core::fsutil::TempSibling::new(dest, super::OUTPUT_MODE).map_err(io)?;
            to_json(
                ledger,
                std::io::BufWriter::with_capacity(1 << 20, tmp.file()),
            )
            .map_err(io)?;
            tmp.commit(dest).map_err(io)?;
        }
    }
    Ok(vec![dest.to_owned()])
}

/// Everything but the findings and the files, which stream after it.
#[derive(Serialize)]
struct Head<'a> {
    format: &'a str,
    version: u32,
    generated_at: i64,
    policy: &'a PolicyInfo,
    /// The machines, as an inventory's roots.
    roots: Vec<&'a str>,
    summary: &'a Summary,
    complete: bool,
    overdue: &'a [String],
    sources: &'a [Source],
    rows: &'a [AssetRow],
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<&'a Review>,
}

/// Writes the company ledger as an inventory JSON (one line and a newline), streaming
/// the findings and the files.
pub fn to_json(ledger: &CompanyLedger, mut out: impl Write) -> std::io::Result<()> {
    let head = serde_json::to_vec(&Head {
        format: FORMAT,
        version: VERSION,
        generated_at: ledger.generated_at,
        policy: &ledger.policy,
        roots: ledger.sources.iter().map(|s| s.name.as_str()).collect(),
        summary: &ledger.summary,
        complete: ledger.complete(),
        overdue: &ledger.overdue,
        sources: &ledger.sources,
        rows: &ledger.rows,
        review: ledger.review.as_ref(),
    })?;
    out.write_all(head.strip_suffix(b"}").expect("an object"))?;
    out.write_all(b",\"findings\":[")?;
    for (i, finding) in ledger.findings.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &finding?)?;
    }
    out.write_all(b"],\"files\":[")?;
    ledger.files.write_json_items(&mut out)?;
    out.write_all(b"]}\n")?;
    out.flush()
}
