//! `fuda scan DIR… --apply`: auto-label whole trees, in parallel, resumably.
//!
//! Progress is recorded as files are done in a state file under the state directory
//! ([`ScanState`]). An interrupted scan started again with the same roots skips the files
//! that are recorded and unchanged; a scan that finishes removes its state file.
//! `--restart` ignores an old state file. Ctrl-C (SIGINT), SIGTERM or SIGHUP stop it after
//! the files in progress: it prints what was done and exits 130; the next run goes on.
//!
//! Every file gets a level: one no rule matches gets the policy's `default_level`
//! (method `default`) unless the policy says `apply_default_level = false`; a label a
//! person set, or a rule's, is never replaced by it.
//!
//! `--protect` (with `--apply`) then encrypts, through the key service, every file that
//! the rules put at a level whose policy says `protect = "required"` and whose label (after
//! this scan) is at such a level — one at a time, each verified by opening the protected
//! copy before the original is removed ([`Protector`]). A file that could not be protected
//! is not recorded as done, so the next scan tries again.
//!
//! `--json` prints one record per labeled file (`"type": "file"`), per protected file
//! (`"type": "protected"`) and a summary (`"type": "summary"`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use fuda_classify::resume::ScanState;
use fuda_classify::rules::Classifier;
use fuda_core::label::Method;
use fuda_core::labeling::{Labeler, SetOutcome};
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::policy::{Policy, Protect};
use fuda_keyd::audit::LabelChange;
use fuda_protect::{Protection, Protector};
use serde::Serialize;

use super::classify::{classifier, evidence_text};
use super::exit_error;
use crate::args::{JobsArgs, OutputArgs, PolicyArgs, StoreArgs};
use crate::config::{self, Session};
use crate::output::{self, Record};
use crate::{keyservice, walk};

#[derive(clap::Args)]
pub struct Args {
    /// Directories (or files) to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the labels (without it, only count what would be labeled).
    #[arg(long)]
    apply: bool,
    /// Also encrypt files whose level requires protection (through the key service:
    /// the configured one, else the embedded one).
    #[arg(long, requires = "apply")]
    protect: bool,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Forget an interrupted scan's progress and start from the beginning.
    #[arg(long)]
    restart: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// Print only errors and the summary.
    #[arg(short, long)]
    quiet: bool,
}

/// What a scan did (with `--json`, its last record).
#[derive(Default, Serialize)]
struct Summary {
    applied: bool,
    files: usize,
    resumed: usize,
    labeled: usize,
    by_level: HashMap<String, usize>,
    /// Of the labeled files, those no rule matched: they got the policy's default level.
    defaulted: usize,
    kept_manual: usize,
    /// Files whose label already had the level the scan would give.
    kept_same: usize,
    kept_higher: usize,
    no_rule: usize,
    failed: usize,
    #[serde(rename = "content_unreadable")]
    unreadable_content: usize,
    text_bytes: u64,
    protected: usize,
    /// Files left unscanned or unprotected because a signal (Ctrl-C, SIGTERM) stopped
    /// the scan.
    interrupted: usize,
    seconds: f64,
}

impl Record for Summary {
    const TYPE: &'static str = "summary";
}

/// `--json`: a file a rule labeled (or would label, without `--apply`).
#[derive(Serialize)]
struct FileRecord<'a> {
    path: JsonPath<'a>,
    level: &'a str,
    /// `auto` (a rule) or `default` (no rule matched: the policy's default level).
    method: Method,
    evidence: &'a str,
    applied: bool,
}

impl Record for FileRecord<'_> {
    const TYPE: &'static str = "file";
}

/// `--json`: a file `--protect` encrypted.
#[derive(Serialize)]
struct ProtectedRecord<'a> {
    path: JsonPath<'a>,
    protected: JsonPath<'a>,
    doc: String,
    level: &'a str,
}

impl Record for ProtectedRecord<'_> {
    const TYPE: &'static str = "protected";
}

enum Done {
    /// Labeled at this level, by a rule (with its evidence) or by default.
    Labeled(String, Method, String),
    KeptManual,
    /// Kept a label as high as the scan's (`true`: at the very same level).
    KeptHigher(bool),
    NoRule,
}

/// What scanning one file did.
struct Scanned {
    done: Done,
    /// Bytes of text read.
    text: u64,
    /// Content that could not be read.
    problem: Option<String>,
    /// `--protect` must encrypt it.
    protect: bool,
    /// The label applied, for the audit log.
    change: Option<LabelChange>,
}

/// What scanning a file needs, shared by the workers.
struct Scan<'a> {
    args: &'a Args,
    policy: &'a Policy,
    classifier: &'a Classifier,
    labeler: &'a Labeler<'a>,
    state: Option<&'a ScanState>,
    host: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Ctrl-C, SIGTERM or SIGHUP: finish the files in progress (each label is written
    // atomically), leave the rest, say what was done.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let session = Session::load(args.policy.policy())?;
    let policy = &session.policy;
    let mut classifier = classifier(policy)?;
    // Labels are signed over the bytes that were classified, read once.
    classifier.hash_content = args.apply;
    let labeler = args.store.labeler(&session)?;
    let started = Instant::now();
    let (files, problems) = walk::expand_lenient(&args.paths);
    for p in &problems {
        eprintln!("fuda: {p}");
    }
    let state = open_state(&args, policy)?;
    let todo: Vec<PathBuf> = match &state {
        Some(state) if state.recorded() > 0 => files
            .iter()
            .filter(|f| !state.is_done(f))
            .cloned()
            .collect(),
        _ => files.clone(),
    };
    let resumed = files.len() - todo.len();
    if resumed > 0 && !args.quiet {
        eprintln!(
            "fuda: resuming an interrupted scan: {resumed} file{} already done (--restart to redo them)",
            plural(resumed)
        );
    }

    let scan = Scan {
        args: &args,
        policy,
        classifier: &classifier,
        labeler: &labeler,
        state: state.as_ref(),
        host: keyservice::hostname(),
    };
    let results = walk::run_parallel(&todo, args.jobs.jobs, "scanning", |f| {
        (!stop.load(Ordering::SeqCst)).then(|| scan.file(f))
    })?;
    session.save_memo();

    let mut s = Summary {
        applied: args.apply,
        files: files.len(),
        resumed,
        ..Summary::default()
    };
    let mut out = output::stdout();
    let mut to_protect = Vec::new();
    let mut changes = Vec::new();
    for (path, result) in todo.iter().zip(results) {
        match result {
            None => s.interrupted += 1,
            Some(Ok(scanned)) => {
                if scanned.protect {
                    to_protect.push(path.clone());
                }
                changes.extend(scanned.change);
                s.text_bytes += scanned.text;
                if let Some(p) = scanned.problem {
                    s.unreadable_content += 1;
                    out.flush()?;
                    eprintln!("fuda: note: {p}");
                }
                scan.count(&mut out, path, scanned.done, &mut s)?;
            }
            Some(Err(e)) => {
                s.failed += 1;
                out.flush()?;
                eprintln!("fuda: {}", output::describe(&e));
            }
        }
    }
    if s.interrupted > 0 {
        // Labeled, not protected: the next run protects them.
        s.interrupted += to_protect.len();
    } else if !to_protect.is_empty() {
        out.flush()?;
        let unprotected =
            "--protect: cannot reach the key service; the files were labeled but not protected";
        let conn = keyservice::connect(&session).context(unprotected)?;
        let account = keyservice::account(&conn, &session)?;
        let dept = session.config.dept.clone();
        let protector =
            Protector::new(&account, policy, dept, keyservice::hostname()).context(unprotected)?;
        protect_all(&protector, &scan, &to_protect, &stop, &mut s, &mut out)?;
    }
    out.flush()?;
    // The labels are on the files; the audit log must hear of them too.
    let unaudited = usize::from(!super::label::audit(&session, &changes));
    s.failed += problems.len() + unaudited;
    if let (Some(state), 0, 0) = (state, s.failed, s.interrupted) {
        state.finish();
    }
    s.labeled = s.by_level.values().sum();
    s.seconds = started.elapsed().as_secs_f64().max(1e-6);
    if args.output.json {
        output::write_json(&mut out, &s)?;
    } else {
        writeln!(out, "{}", summary_text(&s, &args, policy, todo.len()))?;
    }
    out.flush()?;
    if s.interrupted > 0 {
        eprintln!(
            "fuda: interrupted: {} file{} not scanned or not protected yet; run the same command again to go on where it stopped",
            s.interrupted,
            plural(s.interrupted),
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if s.failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}

/// The progress of a scan that writes labels (resumed, or started over with `--restart`);
/// none for a dry run.
fn open_state(args: &Args, policy: &Policy) -> Result<Option<ScanState>> {
    if !args.apply {
        return Ok(None);
    }
    let path = ScanState::location(&config::state_dir()?, &args.paths, policy);
    let opened = if args.restart {
        ScanState::restart(&path)
    } else {
        ScanState::resume(&path)
    };
    let state =
        opened.with_context(|| format!("cannot keep the scan's progress in {}", escaped(&path)))?;
    Ok(Some(state))
}

impl Scan<'_> {
    /// Classifies `f` and, with `--apply`, labels it by the rules; records it as done unless
    /// `--protect` must still encrypt it.
    fn file(&self, f: &Path) -> Result<Scanned> {
        let c = self.classifier.classify_file(f)?;
        let mut now_at = None;
        let mut change = None;
        let done = if self.args.apply {
            match fuda_classify::rules::apply_file(self.labeler, &c)? {
                None => Done::NoRule,
                Some(SetOutcome::Applied {
                    label,
                    previous,
                    downgrade,
                    ..
                }) => {
                    now_at = Some(label.level.clone());
                    change = Some(keyservice::label_set_change(
                        f, &label, previous, downgrade, &self.host,
                    ));
                    Done::Labeled(
                        label.level.clone(),
                        label.method,
                        evidence_text(&label.evidence),
                    )
                }
                Some(SetOutcome::KeptManual { level }) => {
                    now_at = Some(level);
                    Done::KeptManual
                }
                Some(SetOutcome::KeptHigher { level }) => {
                    let same = Some(&level) == c.classification.level.as_ref()
                        || (c.classification.level.is_none()
                            && self.policy.unmatched_level().map(|l| &l.id) == Some(&level));
                    now_at = Some(level);
                    Done::KeptHigher(same)
                }
            }
        } else {
            match &c.classification.level {
                Some(l) => Done::Labeled(
                    l.clone(),
                    Method::Auto,
                    evidence_text(&c.classification.evidence),
                ),
                None => Done::NoRule,
            }
        };
        let required = |level: Option<&str>| {
            level
                .and_then(|l| self.policy.level(l))
                .is_some_and(|l| l.protect == Protect::Required)
        };
        let protect = self.args.protect
            && required(c.classification.level.as_deref())
            && required(now_at.as_deref());
        if let (Some(state), false) = (self.state, protect) {
            state.record(f);
        }
        Ok(Scanned {
            done,
            text: c.text_bytes as u64,
            problem: c.problem,
            protect,
            change,
        })
    }

    /// Counts what was done to `path` and prints a labeled file.
    fn count(&self, out: &mut impl Write, path: &Path, done: Done, s: &mut Summary) -> Result<()> {
        match done {
            Done::Labeled(level, method, evidence) => {
                *s.by_level.entry(level.clone()).or_default() += 1;
                if method == Method::Default {
                    s.defaulted += 1;
                }
                if self.args.output.json {
                    let record = FileRecord {
                        path: JsonPath::new(path),
                        level: &level,
                        method,
                        evidence: &evidence,
                        applied: self.args.apply,
                    };
                    output::write_json(out, &record)?;
                } else if !self.args.quiet {
                    let name = self
                        .policy
                        .level(&level)
                        .map_or(level.as_str(), |l| &l.name_ja);
                    let why = match method {
                        Method::Default => "no rule matched: the policy's default level",
                        _ => &evidence,
                    };
                    writeln!(out, "{}  {name}  ({why})", escaped(path))?;
                }
            }
            Done::KeptManual => s.kept_manual += 1,
            Done::KeptHigher(true) => s.kept_same += 1,
            Done::KeptHigher(false) => s.kept_higher += 1,
            Done::NoRule => s.no_rule += 1,
        }
        Ok(())
    }
}

/// The summary line for people.
fn summary_text(s: &Summary, args: &Args, policy: &Policy, scanned: usize) -> String {
    let mut levels: Vec<_> = s.by_level.iter().collect();
    levels.sort_by_key(|(l, _)| policy.level(l).map_or(0, |l| l.rank));
    let by_level = levels
        .iter()
        .map(|(l, n)| {
            let name = policy.level(l).map_or(l.as_str(), |l| &l.name_ja);
            format!("{n} {name}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let secs = s.seconds;
    let default = policy.unmatched_level();
    let unmatched = match (args.apply, default) {
        (true, Some(level)) => format!(
            "; {} at the default level {} (no rule matched)",
            s.defaulted, level.name_ja
        ),
        (true, None) => format!("; {} without a matching rule (left unlabeled)", s.no_rule),
        (false, Some(level)) => format!(
            "; {} without a matching rule (they get the default level {} unless labeled)",
            s.no_rule, level.name_ja
        ),
        (false, None) => format!("; {} without a matching rule", s.no_rule),
    };
    let kept = if args.apply {
        format!(
            "; kept {} manual label{}, {} already at that level, {} higher",
            s.kept_manual,
            plural(s.kept_manual),
            s.kept_same,
            s.kept_higher
        )
    } else {
        String::new()
    };
    format!(
        "{} {} file{} in {:.1} s ({:.0} files/s, {:.1} MB/s of text): {} {}{}{unmatched}{kept}{}{}{}{}",
        if args.apply { "scanned" } else { "classified" },
        s.files,
        plural(s.files),
        secs,
        scanned as f64 / secs,
        s.text_bytes as f64 / secs / 1e6,
        if args.apply { "labeled" } else { "would label" },
        s.labeled,
        if by_level.is_empty() { String::new() } else { format!(" ({by_level})") },
        if args.protect { format!("; protected {}", s.protected) } else { String::new() },
        if s.resumed > 0 { format!("; {} done before", s.resumed) } else { String::new() },
        if s.failed > 0 { format!("; {} failed", s.failed) } else { String::new() },
        if s.interrupted > 0 { format!("; {} left (interrupted)", s.interrupted) } else { String::new() },
    )
}

/// Encrypts the files `--protect` selected, one at a time, each at the level of the label
/// it now carries (method, rule and evidence kept). A failure leaves the file as it was,
/// labeled, and counts as failed; a success is recorded as done.
fn protect_all(
    protector: &Protector<'_>,
    scan: &Scan<'_>,
    files: &[PathBuf],
    stop: &AtomicBool,
    s: &mut Summary,
    out: &mut impl Write,
) -> Result<()> {
    let (labeler, policy, args) = (scan.labeler, scan.policy, scan.args);
    for (i, f) in files.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            s.interrupted += files.len() - i;
            break;
        }
        let done = labeler
            .inspect(f)
            .map_err(anyhow::Error::from)
            .and_then(|current| {
                let label = current
                    .label
                    .filter(|_| {
                        !matches!(
                            current.status,
                            fuda_core::label::Status::Tampered | fuda_core::label::Status::Replayed
                        )
                    })
                    .ok_or_else(|| anyhow::anyhow!("its label disappeared before protection"))?;
                let level = policy
                    .level(&label.level)
                    .ok_or_else(|| anyhow::anyhow!("unknown level {}", label.level))?;
                let done = protector.protect(
                    f,
                    &Protection {
                        current: Some(&label),
                        // The document belongs to a person, never to the hook alone.
                        owners: fuda_protect::owner_candidates(f, Some(&label)),
                        method: label.method,
                        rule: label.rule.clone(),
                        evidence: label.evidence.clone(),
                        ..Protection::manual(level)
                    },
                )?;
                Ok((done, level))
            });
        match done {
            Ok((done, level)) => {
                s.protected += 1;
                if let Some(state) = scan.state {
                    state.record(f);
                }
                if args.output.json {
                    let record = ProtectedRecord {
                        path: JsonPath::new(f),
                        protected: JsonPath::new(&done.path),
                        doc: done.doc.to_string(),
                        level: &level.id,
                    };
                    output::write_json(out, &record)?;
                } else if !args.quiet {
                    writeln!(
                        out,
                        "{} → {}  [{}, doc {}]",
                        escaped(f),
                        escaped(&done.path),
                        level.name_ja,
                        done.doc
                    )?;
                }
            }
            Err(e) => {
                s.failed += 1;
                out.flush()?;
                eprintln!(
                    "fuda: {}: not protected (it keeps its label): {}",
                    escaped(f),
                    crate::output::describe(&e)
                );
            }
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
