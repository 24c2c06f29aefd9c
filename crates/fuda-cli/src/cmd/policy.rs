//! `fuda policy check|show`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fuda_core::pathname::JsonPath;
use fuda_core::policy::{Level, Policy, PolicyError, Problem, Protect};
use serde::Serialize;

use super::exit_findings;
use crate::args::OutputArgs;
use crate::config::{self, Config, PolicySource};
use crate::output::{self, Record, Table};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a policy file; every problem is reported with line, column and key.
    Check {
        /// The policy file.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show the levels of the policy in force (the organisation's, from the key service,
    /// when there is one), where it came from, and what each level is for.
    Show {
        /// A policy file or built-in name to show instead (default: the policy in force,
        /// else `default`).
        policy: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `policy check --json`: whether a policy file is valid, and every problem.
#[derive(Serialize)]
struct Checked<'a> {
    path: JsonPath<'a>,
    valid: bool,
    /// The policy's id and version, when it is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    problems: &'a [Problem],
}

impl Record for Checked<'_> {
    const TYPE: &'static str = "policy_check";
}

/// `policy show --json`: a policy, where it came from, and its levels.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    version: u32,
    name: &'a str,
    source: &'a PolicySource,
    levels: &'a [Level],
}

impl Record for Shown<'_> {
    const TYPE: &'static str = "policy";
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Check { file, output } => check(file, output.json),
        Command::Show { policy, output } => show(policy, output.json),
    }
}

fn check(file: PathBuf, json: bool) -> Result<ExitCode> {
    let mut out = output::stdout();
    match Policy::load(&file) {
        Ok(p) => {
            if json {
                let checked = Checked {
                    path: JsonPath::new(&file),
                    valid: true,
                    id: Some(&p.id),
                    version: Some(p.version),
                    problems: &[],
                };
                output::write_json(&mut out, &checked)?;
            } else {
                writeln!(
                    out,
                    "{}: ok — policy {} ({}), {} levels, {} assets, {} rules, {} imported Purview labels, {} recovery recipients",
                    fuda_core::pathname::escaped(&file),
                    p,
                    p.name,
                    p.levels.len(),
                    p.assets.len(),
                    p.rules.len(),
                    p.msip_imports.len(),
                    p.recovery_recipients.len()
                )?;
                if p.recovery_recipients.is_empty() {
                    writeln!(out, "note: no [recovery] recipients: protected files could not be recovered without the key service")?;
                }
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(PolicyError::Invalid { path, problems }) => {
            if json {
                let checked = Checked {
                    path: JsonPath::new(&path),
                    valid: false,
                    id: None,
                    version: None,
                    problems: &problems,
                };
                output::write_json(&mut out, &checked)?;
                out.flush()?;
            } else {
                eprintln!("{}", PolicyError::Invalid { path, problems });
            }
            Ok(exit_findings())
        }
        Err(e) => Err(e.into()),
    }
}

/// The policy named, else the one in force, else the built-in default.
fn named_or_in_force(policy: Option<String>) -> Result<(Policy, PolicySource)> {
    let local = |reference: String| -> Result<(Policy, PolicySource)> {
        Ok((
            config::load_policy(&reference)?,
            PolicySource::Local { reference },
        ))
    };
    match (policy, Config::load()) {
        (Some(p), _) => local(p),
        (None, Ok(c)) => {
            let in_force = crate::orgpolicy::in_force(&c, None)?;
            Ok((in_force.policy, in_force.source))
        }
        (None, Err(_)) => local("builtin:default".into()),
    }
}

/// The levels of the policy in force, for `--help`: each level's names and what belongs
/// in it. `None` before `fuda init`, or when no policy can be had.
pub fn levels_help() -> Option<String> {
    let in_force = crate::orgpolicy::in_force(&Config::load().ok()?, None).ok()?;
    let p = &in_force.policy;
    let mut out = format!(
        "Levels of policy {} ({}), from {}:",
        p, p.name, in_force.source
    );
    for l in &p.levels {
        out.push_str(&format!(
            "\n  {} / {} ({}): {}",
            l.name_ja, l.name_en, l.id, l.description
        ));
    }
    Some(out)
}

fn show(policy: Option<String>, json: bool) -> Result<ExitCode> {
    let (p, source) = named_or_in_force(policy)?;
    let mut out = output::stdout();
    if json {
        let shown = Shown {
            id: &p.id,
            version: p.version,
            name: &p.name,
            source: &source,
            levels: &p.levels,
        };
        output::write_json(&mut out, &shown)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "policy {} — {}", p, p.name)?;
    writeln!(out, "from {source}")?;
    let mut table = Table::new(&[
        "RANK",
        "ID",
        "名称",
        "NAME",
        "機密性",
        "完全性",
        "可用性",
        "PROTECT",
        "MARKING",
        "ALIASES",
        "DESCRIPTION",
    ]);
    for l in &p.levels {
        table.row(vec![
            l.rank.to_string(),
            l.id.clone(),
            l.name_ja.clone(),
            l.name_en.clone(),
            l.ipa_confidentiality.to_string(),
            l.ipa_integrity.to_string(),
            l.ipa_availability.to_string(),
            match l.protect {
                Protect::Never => "never",
                Protect::Optional => "optional",
                Protect::Required => "required",
            }
            .to_owned(),
            l.marking.clone().unwrap_or_default(),
            l.aliases.join(", "),
            l.description.clone(),
        ]);
    }
    table.print(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
