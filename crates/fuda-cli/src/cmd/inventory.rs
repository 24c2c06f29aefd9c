//! `fuda inventory`: the confidential-asset ledger (情報資産管理台帳) and the yearly review.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fuda_classify::memory::{self, LabelMemory, Recollection};
use fuda_core::label::Method;
use fuda_core::labeling::Labeler;
use fuda_core::labeling::{SetOutcome, SetRequest};
use fuda_core::pathname::JsonPath;
use fuda_core::policy::{Language, Level, Policy};
use fuda_ledger::inventory::findings::{Finding, FindingKind};
use fuda_ledger::inventory::registry::{RegisteredDocument, Registry, Revoked};
use fuda_ledger::inventory::FileEntry;
use fuda_ledger::inventory::{self, Inventory, Options, Previous, Severity, Summary};
use fuda_ledger::ledger::{self, Format};
use serde::Serialize;

use super::exit_findings;
use crate::args::{self, JobsArgs, OutputArgs, PolicyArgs};
use crate::config::Session;
use crate::output::{self, timestamp, Record};

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
    /// Also ask the key service (the configured one, else the embedded one) for its
    /// registry of protected documents: files of revoked documents still on disk become
    /// findings. Needs an admin of the service.
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
    /// The label memory of `fuda watch` for these folders: report labels it restored after
    /// a save and labels gone without a known cause [default: the watcher's memory for
    /// exactly these folders in this user's state directory, when there is one].
    #[arg(long, value_name = "PATH")]
    memory: Option<PathBuf>,
    /// Language of sheet names, headings and values.
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    lang: LangArg,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    report: crate::report::InventoryReportArgs,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `inventory --json`: something in the inventory that needs a person.
#[derive(Serialize)]
struct FindingRecord<'a> {
    kind: FindingKind,
    severity: Severity,
    path: JsonPath<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
    /// What was found and what to do, in English.
    detail: &'a str,
    /// The same in Japanese.
    detail_ja: &'a str,
}

impl Record for FindingRecord<'_> {
    const TYPE: &'static str = "finding";
}

impl<'a> From<&'a Finding> for FindingRecord<'a> {
    fn from(f: &'a Finding) -> FindingRecord<'a> {
        FindingRecord {
            kind: f.kind,
            severity: f.severity,
            path: JsonPath::new(&f.path),
            level: f.level.as_deref(),
            detail: &f.detail,
            detail_ja: &f.detail_ja,
        }
    }
}

/// `inventory --json`: the totals, after the findings.
#[derive(Serialize)]
struct InventorySummary<'a> {
    /// The ledger files written (none when it went to stdout).
    written: Vec<JsonPath<'a>>,
    #[serde(flatten)]
    counts: &'a Summary,
    /// Findings of high severity.
    high: usize,
    /// What changed since the previous inventory (with --since).
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<ReviewCounts>,
}

impl Record for InventorySummary<'_> {
    const TYPE: &'static str = "summary";
}

/// The counts of the yearly review.
#[derive(Serialize)]
struct ReviewCounts {
    /// When the previous inventory was taken (RFC 3339).
    since: String,
    added: usize,
    removed: usize,
    reclassified: usize,
    moved: usize,
    protected: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Xlsx,
    Csv,
    Json,
    /// The workbook printed to PDF (needs LibreOffice and a Japanese font; see
    /// docs/ledger.md).
    Pdf,
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
    let out = match &args.out {
        Some(p) if p.as_os_str() == "-" => {
            if matches!(format, Format::Xlsx | Format::Pdf) {
                bail!("an xlsx workbook or a PDF cannot go to stdout: pass --out FILE.{}, or --format json|csv", format.extension());
            }
            if args.output.json {
                bail!("--json prints the findings and totals on stdout, where --out - would write the ledger: pass --out FILE");
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
            bail!(
                "--out: folder {} does not exist",
                fuda_core::pathname::escaped(dir)
            );
        }
    }
    Ok(Plan { format, lang, out })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let now = fuda_core::labeling::now();
    let session = Session::load(args.policy.policy())?;
    if args.report.report {
        let (jobs, json) = (args.jobs.jobs, args.output.json);
        crate::report::inventory(&session, &args.roots, &args.report, jobs, json, args.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    let plan = plan(&args, &ledger::date(now, session.policy.utc_offset))?;
    let previous = match &args.since {
        Some(path) => Some(Previous::load(path)?),
        None => None,
    };
    let registry = if args.from_service {
        Some(registry(&session)?)
    } else {
        None
    };
    let digests = session.digest_cache(now);
    let labeler = Labeler {
        digests: Some(&digests),
        ..args::configured_labeler(&session)?
    };
    let since = previous.as_ref().map(|p| p.generated_at);
    let memory = recollect(&args, since)?;
    // A spinner on a terminal (hidden otherwise): the number of files is not known ahead.
    let bar = if args.quiet || args.output.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    }
    // Gone from the screen however the run ends (an error is printed after it).
    .with_finish(indicatif::ProgressFinish::AndClear);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {human_pos} files ({elapsed})")
            .expect("valid template"),
    );
    bar.set_message("reading labels:");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    // A workbook's file sheet is written while the labels are read.
    let mut workbook = match (&plan.out, plan.format) {
        (Some(dest), Format::Xlsx) => Some(ledger::xlsx::Writer::new(
            dest,
            &session.policy,
            plan.lang,
            now,
        )?),
        _ => None,
    };
    let mut read = 0;
    let mut highest: Option<&Level> = None;
    let inv = inventory::build_streaming(
        &labeler,
        &args.roots,
        &Options {
            jobs: args.jobs.jobs,
            previous,
            now: Some(now),
            memory,
            registry,
            // The per-file records wait beside the ledger (in TMPDIR for stdout).
            spill_dir: plan.out.as_ref().and_then(|o| o.parent()).map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d.to_owned()
                }
            }),
            files_to_sink_only: workbook.is_some(),
            exclude: own_outputs(&plan),
        },
        &mut |files| {
            read += files.len();
            highest = highest_level(&session.policy, highest, files);
            bar.set_position(read as u64);
            if let Some(workbook) = &mut workbook {
                workbook.add_files(files)?;
            }
            Ok(())
        },
    )?;
    session.save_memo();
    if let Err(e) = digests.save() {
        bar.suspend(|| eprintln!("fuda: note: could not update the content digest cache: {e}"));
    }

    bar.set_message("writing the ledger;");
    let written = match (&plan.out, workbook) {
        (Some(dest), Some(workbook)) => {
            workbook.finish(&inv)?;
            vec![dest.clone()]
        }
        (Some(dest), None) => ledger::write(&inv, &session.policy, plan.format, plan.lang, dest)?,
        (None, _) => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match plan.format {
                Format::Json => ledger::json::to_writer(&inv, &mut stdout),
                _ => ledger::csv::write_sheet(
                    ledger::sheets(&inv, &session.policy, plan.lang)
                        .into_iter()
                        .next()
                        .expect("the ledger sheet"),
                    &mut stdout,
                ),
            }
            .context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
            Vec::new()
        }
    };

    bar.finish_and_clear();
    let ledger_level = session.policy.ledger_level_for(highest);
    let unlabeled = match ledger_level {
        Some(level) => label_ledger(&session, &labeler, &written, level, inv.summary.files),
        None => 0,
    };

    if args.output.json {
        print_json(&inv, &written)?;
    } else if !args.quiet {
        let mut report = summary(&inv, &written, session.policy.utc_offset);
        if let (Some(level), false) = (ledger_level, written.is_empty()) {
            report.push_str(&format!(
                "labeled the ledger {} ({}): it lists where the organisation's confidential files are\n",
                level.name_ja, level.name_en
            ));
        }
        if plan.out.is_some() {
            let mut out = output::stdout();
            out.write_all(report.as_bytes())?;
            out.flush()?;
        } else {
            eprint!("{report}");
        }
    }
    Ok(if unlabeled > 0 {
        super::exit_error()
    } else if inv.has_findings() {
        exit_findings()
    } else {
        ExitCode::SUCCESS
    })
}

/// The files this run writes (and an older ledger of the same name, about to be
/// replaced): `--out`, and for CSV the sheets beside it (`NAME-SHEET.csv`). The walk
/// leaves them out.
fn own_outputs(plan: &Plan) -> Vec<PathBuf> {
    let Some(dest) = &plan.out else {
        return Vec::new();
    };
    let mut own = vec![dest.clone()];
    if plan.format == Format::Csv {
        let prefix = ledger::csv::sibling(dest, "");
        let prefix = prefix.file_name().unwrap_or_default().as_encoded_bytes();
        let stem = &prefix[..prefix.len() - ".csv".len()];
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.as_encoded_bytes();
            if name.starts_with(stem) && name.ends_with(b".csv") {
                own.push(dir.join(entry.file_name()));
            }
        }
    }
    own
}

/// The highest level among `files` and `so_far` (labels that count in the ledger).
fn highest_level<'p>(
    policy: &'p Policy,
    so_far: Option<&'p Level>,
    files: &[FileEntry],
) -> Option<&'p Level> {
    files
        .iter()
        .filter(|f| f.counted_label())
        .filter_map(|f| policy.level(f.level.as_deref()?))
        .chain(so_far)
        .max_by_key(|l| l.rank)
}

/// Labels the ledger files just written at `level` (a list of where the confidential
/// files are is itself confidential) and tells the audit log; returns how many could not
/// be labeled (each said on stderr, with the command that labels it by hand).
fn label_ledger(
    session: &Session,
    labeler: &fuda_core::labeling::Labeler<'_>,
    written: &[PathBuf],
    level: &Level,
    files: usize,
) -> usize {
    let host = crate::keyservice::hostname();
    let mut changes = Vec::new();
    let mut failed = 0;
    for path in written {
        let request = SetRequest {
            level,
            method: Method::Auto,
            asset: None,
            owner: None,
            justification: None,
            rule: Some("fuda-inventory".into()),
            flags: Vec::new(),
            evidence: vec![fuda_core::label::Evidence {
                what: "ledger-files".into(),
                count: u32::try_from(files).unwrap_or(u32::MAX),
            }],
            content_sha256: None,
            newest: None,
        };
        match labeler.set(path, &request) {
            Ok(SetOutcome::Applied {
                label, previous, ..
            }) => changes.push(crate::keyservice::label_set_change(
                path, &label, previous, false, &host,
            )),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                eprintln!(
                    "fuda: error: the ledger {} was written but could not be labeled: {e}; label it with `fuda label set {} {}`",
                    fuda_core::pathname::escaped(path),
                    level.name_ja,
                    fuda_core::pathname::escaped(path)
                );
            }
        }
    }
    if !super::label::audit(session, &changes) {
        failed += 1;
    }
    failed
}

/// The findings, then the totals, as JSON records on stdout.
fn print_json(inv: &Inventory, written: &[PathBuf]) -> Result<()> {
    let mut out = output::stdout();
    for f in &inv.findings {
        output::write_json(&mut out, &FindingRecord::from(f))?;
    }
    let summary = InventorySummary {
        written: written.iter().map(JsonPath::new).collect(),
        counts: &inv.summary,
        high: high_findings(inv),
        review: inv.review.as_ref().map(|r| ReviewCounts {
            since: timestamp(r.since),
            added: r.added,
            removed: r.removed,
            reclassified: r.reclassified,
            moved: r.moved,
            protected: r.protected,
        }),
    };
    output::write_json(&mut out, &summary)?;
    out.flush()?;
    Ok(())
}

fn high_findings(inv: &Inventory) -> usize {
    inv.findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count()
}

/// Reads the label memory named by `--memory`, or the watcher's memory for these roots
/// when this user has one; events since the previous inventory when there is one.
fn recollect(args: &Args, since: Option<i64>) -> Result<Option<Recollection>> {
    let mut roots = Vec::with_capacity(args.roots.len());
    for r in &args.roots {
        roots.push(std::path::absolute(r).with_context(|| fuda_core::pathname::escaped(r))?);
    }
    let path = match &args.memory {
        Some(p) => p.clone(),
        None => {
            let Ok(state) = crate::config::state_dir() else {
                return Ok(None);
            };
            let p = memory::default_location(&state, &roots);
            if !p.is_file() {
                return Ok(None);
            }
            p
        }
    };
    let memory = LabelMemory::open_existing(&path)?;
    Ok(Some(memory.recollect(&roots, since)?))
}

/// What the key service knows about protected documents, for the inventory.
fn registry(session: &Session) -> Result<Registry> {
    let embedded = crate::keyservice::embedded_dir()?.join(fuda_keyd::service::DB_FILE);
    if session.config.service.is_none() && !embedded.exists() {
        bail!(
            "--from-service: no key service configured, and no embedded one yet (the first \
             `fuda protect` makes it): there is no registry to merge. Run without \
             --from-service, or `fuda init --service URL --enroll CODE`"
        );
    }
    let conn = crate::keyservice::connect(session)?;
    let context =
        "--from-service: cannot read the key service's registry (it needs an admin of the service)";
    let revocations = conn.client.revocations().context(context)?;
    let documents = conn.client.documents().context(context)?;
    Ok(Registry {
        documents: documents
            .into_iter()
            .map(|d| {
                let revoked = revocations
                    .iter()
                    .find(|r| r.user.is_none() && r.doc.as_deref() == Some(d.id.as_str()))
                    .map(|r| Revoked {
                        at: r.at,
                        by: r.by.clone(),
                    });
                RegisteredDocument {
                    id: d.id,
                    name: d.name,
                    owner: d.owner,
                    level: d.level,
                    revoked,
                }
            })
            .collect(),
    })
}

fn summary(inv: &Inventory, written: &[PathBuf], offset: time::UtcOffset) -> String {
    let s = &inv.summary;
    let mut out = String::new();
    for path in written {
        out.push_str(&format!("wrote {}\n", fuda_core::pathname::escaped(path)));
    }
    out.push_str(&format!(
        "{} files: {} valid, {} stale, {} unverified, {} tampered, {} unlabeled, {} protected; {} ledger rows\n",
        s.files, s.valid, s.stale, s.unverified, s.tampered, s.missing, s.protected, s.rows
    ));
    if let Some(r) = &inv.review {
        out.push_str(&format!(
            "since {}: {} added, {} removed, {} reclassified, {} moved, {} protected\n",
            ledger::date(r.since, offset),
            r.added,
            r.removed,
            r.reclassified,
            r.moved,
            r.protected
        ));
    }
    if inv.findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        let high = high_findings(inv);
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
