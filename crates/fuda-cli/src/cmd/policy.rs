//! `fuda policy check|show`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fuda_core::policy::{Policy, PolicyError, Protect};

use super::exit_findings;
use crate::config::{self, Config};
use crate::output::Table;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a policy file; every problem is reported with line, column and key.
    Check {
        /// The policy file.
        file: PathBuf,
        /// Print problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the levels of a policy as a table.
    Show {
        /// A policy file or built-in name (default: the configured policy, else `default`).
        policy: Option<String>,
        /// Print the policy's levels as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Check { file, json } => check(file, json),
        Command::Show { policy, json } => show(policy, json),
    }
}

fn check(file: PathBuf, json: bool) -> Result<ExitCode> {
    match Policy::load(&file) {
        Ok(p) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"path": fuda_core::pathname::JsonPath::new(&file), "valid": true, "id": p.id, "version": p.version, "problems": []})
                );
            } else {
                println!(
                    "{}: ok — policy {} ({}), {} levels, {} assets, {} rules, {} imported Purview labels, {} recovery recipients",
                    file.display(),
                    p,
                    p.name,
                    p.levels.len(),
                    p.assets.len(),
                    p.rules.len(),
                    p.msip_imports.len(),
                    p.recovery_recipients.len()
                );
                if p.recovery_recipients.is_empty() {
                    println!("note: no [recovery] recipients: protected files could not be recovered without the key service");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(PolicyError::Invalid { path, problems }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"path": fuda_core::pathname::JsonPath::new(&path), "valid": false, "problems": problems})
                );
            } else {
                eprintln!("{}", PolicyError::Invalid { path, problems });
            }
            Ok(exit_findings())
        }
        Err(e) => Err(e.into()),
    }
}

fn show(policy: Option<String>, json: bool) -> Result<ExitCode> {
    let reference = match policy {
        Some(p) => p,
        None => Config::load()
            .map(|c| c.policy)
            .unwrap_or_else(|_| "builtin:default".into()),
    };
    let p = config::load_policy(&reference)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"id": p.id, "version": p.version, "name": p.name, "levels": p.levels})
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "policy {} — {}", p, p.name)?;
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
        ]);
    }
    table.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
