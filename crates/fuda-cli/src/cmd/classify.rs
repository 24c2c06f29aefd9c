//! `fuda classify`: what the policy's rules would label files, and why (a dry run).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use fuda_classify::rules::{Classifier, FileClassification};
use fuda_core::label::Evidence;
use fuda_core::policy::Policy;

use super::exit_error;
use crate::args::{JobsArgs, OutputArgs, PolicyArgs};
use crate::config::{self, Config};
use crate::output::{self, Record, Table};
use crate::walk;

#[derive(clap::Args)]
pub struct Args {
    /// Files (and, with -r, directories).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Include everything inside directories.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `classify --json`: what the rules propose for a file, and why.
impl Record for FileClassification {
    const TYPE: &'static str = "file";
}

/// The policy from `--policy` (a dry run, even under a key service), else the one in
/// force (the organisation's, from the key service, or the configured one), else the
/// built-in default (so classification works before `fuda init`).
pub fn policy(flag: Option<&str>) -> Result<Policy> {
    match flag {
        Some(p) => config::load_policy(p),
        None => match Config::load() {
            Ok(c) => Ok(crate::orgpolicy::in_force(&c, None)?.policy),
            Err(_) => config::load_policy("builtin:default"),
        },
    }
}

/// Compiles the rules of a policy.
pub fn classifier(policy: &Policy) -> Result<Classifier> {
    Classifier::new(policy).with_context(|| format!("policy {policy}"))
}

/// Evidence as people read it: `keyword:極秘×2, path`.
pub fn evidence_text(evidence: &[Evidence]) -> String {
    evidence
        .iter()
        .map(|e| {
            if e.count == 1 && !e.what.starts_with("detector:") && e.what != "regex" {
                e.what.clone()
            } else {
                format!("{}×{}", e.what, e.count)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy = policy(args.policy.policy())?;
    let classifier = classifier(&policy)?;
    let files = walk::expand(&args.paths, args.recursive)?;
    let results = walk::run_parallel(&files, args.jobs.jobs, "classifying", |f| {
        classifier.classify_file(f)
    })?;
    let mut out = output::stdout();
    let mut table = Table::new(&["PATH", "LEVEL", "RULE", "EVIDENCE"]);
    let mut failed = 0;
    for result in results {
        match result {
            Ok(c) => {
                if let Some(p) = &c.problem {
                    out.flush()?;
                    eprintln!("fuda: note: {p}");
                }
                if args.output.json {
                    output::write_json(&mut out, &c)?;
                    continue;
                }
                let cl = &c.classification;
                // What scan --apply and watch give a file no rule matches.
                let default = policy
                    .unmatched_level()
                    .filter(|_| cl.level.is_none() && c.problem.is_none());
                table.row(vec![
                    fuda_core::pathname::escaped(&c.path),
                    match (cl.level.as_deref().and_then(|l| policy.level(l)), default) {
                        (Some(l), _) => l.name_ja.clone(),
                        (None, Some(d)) => d.name_ja.clone(),
                        (None, None) => "-".into(),
                    },
                    match (&cl.rule, default) {
                        (Some(rule), _) => rule.clone(),
                        (None, Some(_)) => "(default level)".into(),
                        (None, None) => "-".into(),
                    },
                    if cl.evidence.is_empty() {
                        "-".into()
                    } else {
                        evidence_text(&cl.evidence)
                    },
                ]);
            }
            Err(e) => {
                failed += 1;
                out.flush()?;
                eprintln!("fuda: {e}");
            }
        }
    }
    if !args.output.json {
        table.print(&mut out)?;
    }
    out.flush()?;
    Ok(if failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}
