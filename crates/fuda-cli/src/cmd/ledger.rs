//! `fuda admin ledger`: the company-wide ledger the key service builds from every
//! machine's reports, written here as xlsx, PDF, CSV or JSON.

use std::io::{BufReader, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::policy::Language;
use fuda_ledger::company::{wire, CompanyLedger};
use fuda_ledger::inventory::{Previous, Severity};
use fuda_ledger::ledger::{self, Format};
use serde::Serialize;

use super::exit_findings;
use crate::args::OutputArgs;
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, Record};

/// The company-wide ledger (情報資産管理台帳) from every file server and PC that reports
/// to the key service (`fuda inventory --report`, `fuda watch --report`).
///
/// The same sheets as `fuda inventory`, after a first sheet (報告状況) that lists every
/// machine with its last report and says whether the ledger is complete; files are named
/// MACHINE:PATH. Findings add copies of a 秘/極秘 document on several machines, revoked
/// documents still present anywhere and machines that stopped reporting. For admins and
/// auditors; every export is in the audit log.
///
/// Exit codes: 0 no findings, 1 findings, 2 error (nothing written).
#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Xlsx)]
    format: FormatArg,
    /// Output file [default: company-ledger-YYYY-MM-DD.EXT]; `-` writes JSON or the
    /// main CSV sheet to stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The JSON of an earlier company ledger (`--format json`): add the review of what
    /// was added, removed, reclassified and moved since then, on every machine.
    #[arg(long, value_name = "PREVIOUS.json")]
    since: Option<PathBuf>,
    /// Language of sheet names, headings and values.
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    lang: LangArg,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Xlsx,
    Csv,
    Json,
    /// The workbook printed to PDF (needs LibreOffice and a Japanese font here).
    Pdf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LangArg {
    Ja,
    En,
}

/// `admin ledger --json`: what was written and what it holds.
#[derive(Serialize)]
struct LedgerSummary<'a> {
    written: Vec<JsonPath<'a>>,
    /// Whether every machine reported within its interval.
    complete: bool,
    /// The machines that did not.
    overdue: &'a [String],
    machines: usize,
    files: usize,
    rows: usize,
    findings: usize,
    high: usize,
}

impl Record for LedgerSummary<'_> {
    const TYPE: &'static str = "company_ledger";
}

/// Runs `fuda admin ledger`.
pub fn run(args: Args, session: &Session) -> Result<ExitCode> {
    let format = match args.format {
        FormatArg::Xlsx => Format::Xlsx,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
        FormatArg::Pdf => Format::Pdf,
    };
    let lang = match args.lang {
        LangArg::Ja => Language::Ja,
        LangArg::En => Language::En,
    };
    let now = fuda_core::labeling::now();
    let out = match &args.out {
        Some(p) if p.as_os_str() == "-" => {
            if matches!(format, Format::Xlsx | Format::Pdf) {
                bail!("a workbook or PDF cannot go to stdout: pass --out FILE.{}, or --format json|csv", format.extension());
            }
            if args.output.json {
                bail!("--json prints the totals on stdout, where --out - would write the ledger: pass --out FILE");
            }
            None
        }
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!(
            "company-ledger-{}.{}",
            ledger::date(now, session.policy.utc_offset),
            format.extension()
        ))),
    };
    let dir = match out.as_ref().and_then(|o| o.parent()) {
        Some(d) if d.as_os_str().is_empty() => PathBuf::from("."),
        Some(d) => d.to_owned(),
        None => std::env::temp_dir(),
    };
    if !dir.is_dir() {
        bail!("--out: folder {} does not exist", escaped(&dir));
    }
    let previous = match &args.since {
        Some(path) => Some(Previous::load(path)?),
        None => None,
    };
    if session.config.service.is_none() {
        bail!("the company ledger is built by the key service that machines report to: `fuda init --service URL --enroll CODE` first (for this machine's folders, `fuda inventory`)");
    }
    let conn = keyservice::connect(session)?;
    // The stream waits in an unnamed 0600 file beside the output, not in memory.
    let mut stream = tempfile::tempfile_in(&dir)
        .with_context(|| format!("cannot write a temporary file in {}", escaped(&dir)))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut stream);
        conn.client
            .ledger(&mut w)
            .context("the key service could not hand over the company ledger")?;
        w.flush()?;
    }
    stream.rewind()?;
    let company = wire::read(
        &mut BufReader::with_capacity(1 << 20, &stream),
        &session.policy,
        previous.as_ref(),
        &dir,
    )?;
    drop(stream);
    let written = match &out {
        Some(dest) => ledger::company::write(&company, &session.policy, format, lang, dest)?,
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                Format::Json => ledger::company::to_json(&company, &mut stdout),
                _ => ledger::csv::write_sheet(
                    ledger::company::sheets(&company, &session.policy, lang)
                        .into_iter()
                        .find(|s| s.slug == "ledger")
                        .expect("the ledger sheet"),
                    &mut stdout,
                ),
            }
            .context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
            Vec::new()
        }
    };
    report(&args, &company, &written)?;
    Ok(if company.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit_findings()
    })
}

fn high(company: &CompanyLedger) -> Result<usize> {
    let mut n = 0;
    for f in company.findings.iter() {
        n += usize::from(f?.severity == Severity::High);
    }
    Ok(n)
}

/// The totals: a JSON record, or lines for people.
fn report(args: &Args, company: &CompanyLedger, written: &[PathBuf]) -> Result<()> {
    let high = high(company)?;
    if args.output.json {
        let mut out = output::stdout();
        output::write_json(
            &mut out,
            &LedgerSummary {
                written: written.iter().map(|p| JsonPath::new(p.as_path())).collect(),
                complete: company.complete(),
                overdue: &company.overdue,
                machines: company.sources.len(),
                files: company.summary.files,
                rows: company.summary.rows,
                findings: company.findings.len(),
                high,
            },
        )?;
        out.flush()?;
        return Ok(());
    }
    if args.quiet {
        return Ok(());
    }
    let mut text = String::new();
    for path in written {
        text.push_str(&format!("wrote {}\n", escaped(Path::new(path))));
    }
    text.push_str(&format!(
        "{} machines, {} files, {} ledger rows, {} findings ({high} high)\n",
        company.sources.len(),
        company.summary.files,
        company.summary.rows,
        company.findings.len()
    ));
    if !company.complete() {
        text.push_str(&format!(
            "INCOMPLETE: not reporting within their interval: {}\n",
            company.overdue.join(", ")
        ));
    }
    if written.is_empty() {
        eprint!("{text}");
    } else {
        let mut out = output::stdout();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}
