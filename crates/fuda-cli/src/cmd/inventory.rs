//! `fuda inventory`: the confidential-asset ledger (情報資産管理台帳) and the yearly review.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fuda_core::labeling::Labeler;
use fuda_core::policy::Language;
use fuda_scan::inventory::{self, Inventory, Options, Severity};
use fuda_scan::ledger::{self, Format};

use super::exit_findings;
use crate::config::Session;

/// Build the confidential-asset ledger (情報資産管理台帳) from the labels under folders.
///
/// Walks the folders in parallel, reads and verifies every label (xattr, Office documents,
/// .fuda sidecar indexes, protected files), and writes one ledger row per asset of the
/// policy (files matching no asset: one row per folder and level), the files, and the
/// findings that need a person. With --since, also what was added, removed, reclassified
/// and moved since that inventory (the yearly review, 棚卸).
///
/// Exit codes: 0 no findings, 1 findings (cron can alert), 2 error (nothing written).
#[derive(clap::Args)]
pub struct Args {
    /// Folders (or files) to inventory.
    #[arg(required = true, value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Also merge the key service's registry of protected documents (copies elsewhere).
    #[arg(long)]
    from_service: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Xlsx)]
    format: FormatArg,
    /// Output file [default: inventory-YYYY-MM-DD.EXT]; `-` writes JSON or the main CSV
    /// sheet to stdout. CSV writes its other sheets beside the file (NAME-findings.csv …).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The JSON of an earlier inventory: add the review of what changed since then.
    #[arg(long, value_name = "PREVIOUS.json")]
    since: Option<PathBuf>,
    /// Language of sheet names, headings and values.
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    lang: LangArg,
    /// Use this policy instead of the configured one.
    #[arg(long)]
    policy: Option<String>,
    /// Worker threads (0 = one per core).
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
    /// Print only errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Xlsx,
    Csv,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LangArg {
    Ja,
    En,
}

/// Validated options.
struct Plan {
    format: Format,
    lang: Language,
    out: Option<PathBuf>,
}

fn plan(args: &Args, today: &str) -> Result<Plan> {
    if args.from_service {
        bail!(
            "--from-service: no key service configured; the key service (fuda-keyd) is not \
             available in this version, so its registry cannot be merged. Run without \
             --from-service to inventory the labels on disk"
        );
    }
    let format = match args.format {
        FormatArg::Xlsx => Format::Xlsx,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    let lang = match args.lang {
        LangArg::Ja => Language::Ja,
        LangArg::En => Language::En,
    };
    let out = match &args.out {
        Some(p) if p.as_os_str() == "-" => {
            if format == Format::Xlsx {
                bail!("an xlsx workbook cannot go to stdout: pass --out FILE.xlsx, or --format json|csv");
            }
            None
        }
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!(
            "inventory-{today}.{}",
            format.extension()
        ))),
    };
    if let Some(dir) = out
        .as_ref()
        .and_then(|o| o.parent())
        .filter(|d| !d.as_os_str().is_empty())
    {
        if !dir.is_dir() {
            bail!("--out: folder {} does not exist", dir.display());
        }
    }
    Ok(Plan { format, lang, out })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let now = fuda_core::labeling::now();
    let session = Session::load(args.policy.as_deref())?;
    let plan = plan(&args, &ledger::date(now, session.policy.utc_offset))?;
    let previous = match &args.since {
        Some(path) => Some(Inventory::load(path)?),
        None => None,
    };
    let labeler = Labeler {
        policy: &session.policy,
        identity: &session.identity,
        trust: &session.trust,
        dept: session.config.dept.clone(),
        preference: session.config.store_preference()?,
        memo: Some(&session.memo),
    };
    let inv = inventory::build(
        &labeler,
        &args.roots,
        &Options {
            jobs: args.jobs,
            previous,
            now: Some(now),
        },
    )?;
    session.save_memo();

    let written = match &plan.out {
        Some(dest) => ledger::write(&inv, &session.policy, plan.format, plan.lang, dest)?,
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match plan.format {
                Format::Json => ledger::json::to_writer(&inv, &mut stdout),
                _ => stdout.write_all(&ledger::csv::render(
                    ledger::sheets(&inv, &session.policy, plan.lang)
                        .into_iter()
                        .next()
                        .expect("the ledger sheet"),
                )),
            }
            .context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
            Vec::new()
        }
    };

    if !args.quiet {
        let report = summary(&inv, &written, session.policy.utc_offset);
        if plan.out.is_some() {
            print!("{report}");
        } else {
            eprint!("{report}");
        }
    }
    Ok(if inv.has_findings() {
        exit_findings()
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(inv: &Inventory, written: &[PathBuf], offset: time::UtcOffset) -> String {
    let s = &inv.summary;
    let mut out = String::new();
    for path in written {
        out.push_str(&format!("wrote {}\n", path.display()));
    }
    out.push_str(&format!(
        "{} files: {} valid, {} stale, {} unverified, {} tampered, {} unlabeled, {} protected; {} ledger rows\n",
        s.files, s.valid, s.stale, s.unverified, s.tampered, s.missing, s.protected, s.rows
    ));
    if let Some(r) = &inv.review {
        out.push_str(&format!(
            "since {}: {} added, {} removed, {} reclassified, {} moved\n",
            ledger::date(r.since, offset),
            r.added,
            r.removed,
            r.reclassified,
            r.moved
        ));
    }
    if inv.findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        let high = inv
            .findings
            .iter()
            .filter(|f| f.severity == Severity::High)
            .count();
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for f in &inv.findings {
            match kinds.iter_mut().find(|(k, _)| *k == f.kind.as_str()) {
                Some((_, n)) => *n += 1,
                None => kinds.push((f.kind.as_str(), 1)),
            }
        }
        out.push_str(&format!(
            "{} findings ({high} high): {}\n",
            inv.findings.len(),
            kinds
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
