//! `fuda scan DIR… --apply`: auto-label whole trees, in parallel, resumably.
//!
//! Progress is recorded as files are done in a state file under the state directory
//! (`scan-<hash of the roots and policy>.state`: one `mtime size path` line per finished
//! file). An interrupted scan started again with the same roots skips the files that are
//! recorded and unchanged; a scan that finishes removes its state file. `--restart`
//! ignores an old state file.
//!
//! `--protect` (with `--apply`) then encrypts, through the key service, every file that
//! the rules put at a level whose policy says `protect = "required"` and whose label (after
//! this scan) is at such a level — one at a time, each verified by opening the protected
//! copy before the original is removed ([`Protector`]). A file that could not be protected
//! is not recorded as done, so the next scan tries again.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use fuda_core::labeling::{Labeler, SetOutcome, StorePreference};
use fuda_core::policy::Protect;

use super::classify::{classifier, evidence_text};
use super::exit_error;
use super::protect::{Protection, Protector};
use crate::config::{self, Session};
use crate::walk;

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
    /// Worker threads (0 = one per core).
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
    /// Use this policy file instead of the configured one.
    #[arg(long)]
    policy: Option<String>,
    /// Where labels of non-Office files go: xattr, auto, sidecar [default: from config].
    #[arg(long, value_parser = ["xattr", "auto", "sidecar"])]
    store: Option<String>,
    /// Forget an interrupted scan's progress and start from the beginning.
    #[arg(long)]
    restart: bool,
    /// One JSON object per labeled file, and a JSON summary.
    #[arg(long)]
    json: bool,
    /// Print only errors and the summary.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Default)]
struct Summary {
    files: usize,
    resumed: usize,
    labeled: HashMap<String, usize>,
    kept_manual: usize,
    kept_higher: usize,
    no_rule: usize,
    unreadable_content: usize,
    failed: usize,
    text_bytes: u64,
    protected: usize,
}

enum Done {
    Labeled(String, String),
    KeptManual,
    KeptHigher,
    NoRule,
}

/// A labeled file that `--protect` must encrypt.
struct ToProtect {
    path: PathBuf,
    /// Its state-file line, written once it is protected.
    state_line: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let session = Session::load(args.policy.as_deref())?;
    let policy = &session.policy;
    let mut classifier = classifier(policy)?;
    // Labels are signed over the bytes that were classified, read once.
    classifier.hash_content = args.apply;
    let preference = match args.store.as_deref() {
        Some("sidecar") => StorePreference::Sidecar,
        Some("auto") => StorePreference::Auto,
        Some(_) => StorePreference::Xattr,
        None => session.config.store_preference()?,
    };
    let labeler = Labeler {
        policy,
        identity: &session.identity,
        trust: &session.trust,
        dept: session.config.dept.clone(),
        preference,
        memo: Some(&session.memo),
        digests: None,
    };
    let started = Instant::now();
    let (files, problems) = walk::expand_lenient(&args.paths);
    for p in &problems {
        eprintln!("fuda: {p}");
    }

    let state_path = state_path(&args.paths, policy)?;
    let done_before = if args.apply && !args.restart {
        load_state(&state_path)
    } else {
        HashMap::new()
    };
    let todo: Vec<PathBuf> = if done_before.is_empty() {
        files.clone()
    } else {
        files
            .iter()
            .filter(|f| {
                let key = stat_key(f);
                key.is_none() || done_before.get(*f) != key.as_ref()
            })
            .cloned()
            .collect()
    };
    let resumed = files.len() - todo.len();
    if resumed > 0 && !args.quiet {
        eprintln!(
            "fuda: resuming an interrupted scan: {resumed} file{} already done (--restart to redo them)",
            plural(resumed)
        );
    }
    let state = if args.apply {
        fuda_core::fsutil::create_private_dir(state_path.parent().expect("state dir"))
            .with_context(|| format!("cannot create {}", state_path.display()))?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&state_path)
            .with_context(|| format!("cannot open {}", state_path.display()))?;
        Some(Mutex::new(f))
    } else {
        None
    };

    let host = crate::keyservice::hostname();
    let results = walk::run_parallel(&todo, args.jobs, "scanning", |f| {
        let c = classifier.classify_file(f)?;
        let text = c.text_bytes as u64;
        let problem = c.problem.clone();
        let mut now_at = None;
        let mut change = None;
        let outcome = if args.apply {
            match fuda_classify::rules::apply_file(&labeler, &c)? {
                None => Done::NoRule,
                Some(SetOutcome::Applied {
                    label,
                    previous,
                    downgrade,
                    ..
                }) => {
                    now_at = Some(label.level.clone());
                    change = Some(crate::keyservice::label_set_change(
                        f, &label, previous, downgrade, &host,
                    ));
                    Done::Labeled(label.level.clone(), evidence_text(&label.evidence))
                }
                Some(SetOutcome::KeptManual { level }) => {
                    now_at = Some(level);
                    Done::KeptManual
                }
                Some(SetOutcome::KeptHigher { level }) => {
                    now_at = Some(level);
                    Done::KeptHigher
                }
            }
        } else {
            match &c.classification.level {
                Some(l) => Done::Labeled(l.clone(), evidence_text(&c.classification.evidence)),
                None => Done::NoRule,
            }
        };
        let required = |level: Option<&str>| {
            level
                .and_then(|l| policy.level(l))
                .is_some_and(|l| l.protect == Protect::Required)
        };
        let protect = args.protect
            && required(c.classification.level.as_deref())
            && required(now_at.as_deref());
        let line = stat_key(f).map(|(mtime, size)| format!("{mtime}\t{size}\t{}\n", f.display()));
        let to_protect = protect.then(|| ToProtect {
            path: f.to_owned(),
            state_line: line.clone(),
        });
        if let (Some(state), Some(line), false) = (&state, &line, protect) {
            // One write per line on an O_APPEND file: a kill leaves whole lines only.
            let _ = state.lock().expect("state lock").write_all(line.as_bytes());
        }
        Ok::<_, anyhow::Error>((outcome, text, problem, to_protect, change))
    })?;
    session.save_memo();

    let mut s = Summary {
        files: files.len(),
        resumed,
        ..Summary::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut to_protect = Vec::new();
    let mut changes = Vec::new();
    for (path, result) in todo.iter().zip(results) {
        match result {
            Ok((outcome, text, problem, protect, change)) => {
                s.text_bytes += text;
                to_protect.extend(protect);
                changes.extend(change);
                if let Some(p) = problem {
                    s.unreadable_content += 1;
                    out.flush()?;
                    eprintln!("fuda: note: {p}");
                }
                match outcome {
                    Done::Labeled(level, evidence) => {
                        *s.labeled.entry(level.clone()).or_default() += 1;
                        if args.json {
                            writeln!(
                                out,
                                "{}",
                                serde_json::json!({"path": fuda_core::pathname::JsonPath::new(&path), "level": level, "evidence": evidence, "applied": args.apply})
                            )?;
                        } else if !args.quiet {
                            let name = policy.level(&level).map_or(level.as_str(), |l| &l.name_ja);
                            writeln!(
                                out,
                                "{}  {name}  ({evidence})",
                                fuda_core::pathname::escaped(path)
                            )?;
                        }
                    }
                    Done::KeptManual => s.kept_manual += 1,
                    Done::KeptHigher => s.kept_higher += 1,
                    Done::NoRule => s.no_rule += 1,
                }
            }
            Err(e) => {
                s.failed += 1;
                out.flush()?;
                eprintln!("fuda: {e:#}");
            }
        }
    }
    if !to_protect.is_empty() {
        out.flush()?;
        let protector = Protector::connect(&session).context(
            "--protect: cannot reach the key service; the files were labeled but not protected",
        )?;
        protect_all(
            &protector,
            &labeler,
            &to_protect,
            state.as_ref(),
            &args,
            &mut s,
            &mut out,
        )?;
    }
    out.flush()?;
    // The labels are on the files; the audit log must hear of them too.
    let unaudited = usize::from(!super::label::audit(&session, &changes));
    let failed = s.failed + problems.len() + unaudited;
    if args.apply && failed == 0 {
        let _ = std::fs::remove_file(&state_path);
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    let mut levels: Vec<_> = s.labeled.iter().collect();
    levels.sort_by_key(|(l, _)| policy.level(l).map_or(0, |l| l.rank));
    let labeled: usize = s.labeled.values().sum();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "summary": true, "applied": args.apply, "files": s.files, "resumed": s.resumed,
                "labeled": labeled, "by_level": s.labeled, "kept_manual": s.kept_manual,
                "kept_higher": s.kept_higher, "no_rule": s.no_rule, "failed": failed,
                "content_unreadable": s.unreadable_content, "text_bytes": s.text_bytes,
                "protected": s.protected, "seconds": secs,
            })
        )?;
    } else {
        let by_level = levels
            .iter()
            .map(|(l, n)| {
                let name = policy.level(l).map_or(l.as_str(), |l| &l.name_ja);
                format!("{n} {name}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "{} {} file{} in {:.1} s ({:.0} files/s, {:.1} MB/s of text): {} {labeled}{}; kept {} manual and {} higher label{}; {} without a matching rule{}{}{}",
            if args.apply { "scanned" } else { "classified" },
            s.files,
            plural(s.files),
            secs,
            todo.len() as f64 / secs,
            s.text_bytes as f64 / secs / 1e6,
            if args.apply { "labeled" } else { "would label" },
            if by_level.is_empty() { String::new() } else { format!(" ({by_level})") },
            s.kept_manual,
            s.kept_higher,
            plural(s.kept_manual + s.kept_higher),
            s.no_rule,
            if args.protect { format!("; protected {}", s.protected) } else { String::new() },
            if s.resumed > 0 { format!("; {} done before", s.resumed) } else { String::new() },
            if failed > 0 { format!("; {failed} failed") } else { String::new() },
        )?;
    }
    out.flush()?;
    Ok(if failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}

/// Encrypts the files `--protect` selected, one at a time, each at the level of the label
/// it now carries (method, rule and evidence kept). A failure leaves the file as it was,
/// labeled, and counts as failed.
fn protect_all(
    protector: &Protector<'_>,
    labeler: &Labeler<'_>,
    files: &[ToProtect],
    state: Option<&Mutex<std::fs::File>>,
    args: &Args,
    s: &mut Summary,
    out: &mut impl Write,
) -> Result<()> {
    let policy = labeler.policy;
    for f in files {
        let done = labeler
            .inspect(&f.path)
            .map_err(anyhow::Error::from)
            .and_then(|current| {
                let label = current
                    .label
                    .ok_or_else(|| anyhow::anyhow!("its label disappeared before protection"))?;
                let level = policy
                    .level(&label.level)
                    .ok_or_else(|| anyhow::anyhow!("unknown level {}", label.level))?;
                let done = protector.protect(
                    &f.path,
                    &Protection {
                        level,
                        extra: &[],
                        expires: None,
                        keep: false,
                        current: Some(&label),
                        method: label.method,
                        rule: label.rule.clone(),
                        evidence: label.evidence.clone(),
                    },
                )?;
                Ok((done, level))
            });
        match done {
            Ok((done, level)) => {
                s.protected += 1;
                if let (Some(state), Some(line)) = (state, &f.state_line) {
                    let _ = state.lock().expect("state lock").write_all(line.as_bytes());
                }
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"path": fuda_core::pathname::JsonPath::new(&f.path), "protected": fuda_core::pathname::JsonPath::new(&done.path), "doc": done.doc.to_string(), "level": level.id})
                    )?;
                } else if !args.quiet {
                    writeln!(
                        out,
                        "{} → {}  [{}, doc {}]",
                        fuda_core::pathname::escaped(&f.path),
                        fuda_core::pathname::escaped(&done.path),
                        level.name_ja,
                        done.doc
                    )?;
                }
            }
            Err(e) => {
                s.failed += 1;
                out.flush()?;
                eprintln!(
                    "fuda: {}: not protected (it keeps its label): {e:#}",
                    f.path.display()
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

/// Modification time (ns) and size: what must be unchanged for a file to count as done.
fn stat_key(path: &Path) -> Option<(i64, u64)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.mtime() * 1_000_000_000 + m.mtime_nsec(), m.size()))
}

fn state_path(roots: &[PathBuf], policy: &fuda_core::policy::Policy) -> Result<PathBuf> {
    let mut key = format!("{}@{}", policy.id, policy.version);
    for r in roots {
        key.push('\0');
        key.push_str(
            &std::path::absolute(r)
                .unwrap_or_else(|_| r.clone())
                .to_string_lossy(),
        );
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(config::state_dir()?.join(format!("scan-{hash:016x}.state")))
}

fn load_state(path: &Path) -> HashMap<PathBuf, (i64, u64)> {
    let Ok(f) = std::fs::File::open(path) else {
        return HashMap::new();
    };
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let mtime = parts.next()?.parse().ok()?;
            let size = parts.next()?.parse().ok()?;
            Some((PathBuf::from(parts.next()?), (mtime, size)))
        })
        .collect()
}
