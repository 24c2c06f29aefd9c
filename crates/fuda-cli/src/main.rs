//! `fuda`: label, check and protect confidential files.
//!
//! Exit codes: 0 success (for `check`: every label valid); 1 findings (a label that is not
//! valid, an invalid policy); 2 errors (bad arguments, unreadable files, refused changes).
#![forbid(unsafe_code)]

mod args;
mod cmd;
mod config;
mod directory;
mod keyservice;
mod label_queue;
mod orgpolicy;
mod output;
mod report;
mod walk;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// fuda (札): classification labels and protection for confidential files.
///
/// Label files with your organisation's levels (公開 / 社外秘 / 秘 / 極秘), check that labels
/// are intact, and keep the policy that defines them. Start with `fuda init`.
#[derive(Parser)]
#[command(name = "fuda", version, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 success, 1 findings (labels not valid, invalid policy), 2 error.\n\
Files: ~/.config/fuda (identity, config, trust store); see docs/cli.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create your identity (age X25519 + Ed25519 keys, 0600) and config.
    Init(cmd::init::Args),
    /// Set, show, check and remove labels.
    #[command(subcommand)]
    Label(cmd::label::Command),
    /// Check and show classification policies.
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// Manage the signer keys whose labels count as valid.
    #[command(subcommand)]
    Trust(cmd::trust::Command),
    /// Show a protected file's label and recipients without any key.
    Inspect(cmd::envelope::InspectArgs),
    /// Decrypt a protected file with the organisation's recovery identity (break-glass).
    Recover(cmd::envelope::RecoverArgs),
    /// Build the confidential-asset ledger (情報資産管理台帳) and the yearly review.
    Inventory(cmd::inventory::Args),
    /// Show what the policy's rules would label files, and why (changes nothing).
    Classify(cmd::classify::Args),
    /// Auto-label whole trees with the policy's rules (--apply), in parallel, resumably.
    ///
    /// Files no rule matches get the policy's default level (method `default`) unless the
    /// policy sets `apply_default_level = false`; labels people set are never replaced,
    /// none is ever lowered. Ctrl-C stops after the files in progress and prints what was
    /// done; the same command then goes on where it stopped.
    Scan(cmd::scan::Args),
    /// Label files as they land in directories (the file-server hook; runs until SIGTERM).
    Watch(cmd::watch::Args),
    /// Protect files: encrypt them so that only people with rights can open them.
    Protect(cmd::protect::ProtectArgs),
    /// Open a protected file (needs the view right).
    Open(cmd::protect::OpenArgs),
    /// Write a protected file's content out unprotected (needs the export right).
    Export(cmd::protect::ExportArgs),
    /// Save a changed working copy back as a new version of its protected document (needs
    /// the edit right).
    Save(cmd::save::SaveArgs),
    /// Edit a protected file in your editor and save it back as its next version (needs the
    /// edit right).
    Edit(cmd::edit::EditArgs),
    /// Give users or groups rights on a protected file.
    Share(cmd::protect::ShareArgs),
    /// Take a grant away from a protected file.
    Unshare(cmd::protect::UnshareArgs),
    /// Show who may do what with a protected file.
    Rights(cmd::protect::RightsArgs),
    /// Administer the key service: users, groups, revocation, documents, audit, keys.
    #[command(subcommand)]
    Admin(cmd::admin::Command),
    /// Bring protected files to the organisation's recovery recipients (after `fuda admin
    /// recovery rotate`), through the key service; the encrypted content is untouched.
    Rewrap(cmd::recovery::RewrapArgs),
}

/// Parses the command line. Asked for help, the commands that take a level list the
/// levels of the policy in force (the organisation's, when a key service holds one), so
/// that staff choose by their names and descriptions. `Err`: the hidden `generate`
/// subcommand ran, with this exit code.
fn parse() -> Result<Cli, ExitCode> {
    let mut command = Cli::command();
    let wants_help = std::env::args_os().any(|a| a == "-h" || a == "--help" || a == "help");
    if let Some(levels) = wants_help.then(cmd::policy::levels_help).flatten() {
        let with_levels = |c: clap::Command| c.after_help(levels.clone());
        command = command
            .mut_subcommand("label", |c| c.mut_subcommand("set", with_levels))
            .mut_subcommand("protect", with_levels)
            .mut_subcommand("policy", |c| c.mut_subcommand("show", with_levels));
    }
    // `fuda generate man|completions DIR`, hidden, writes the packages' man pages and
    // completions (scripts/package); it is no part of the command line they describe.
    let matches = command.subcommand(fuda_clidoc::subcommand()).get_matches();
    if let Some(code) = fuda_clidoc::dispatch(&matches, Cli::command) {
        return Err(code);
    }
    Ok(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // `watch` and `scan` stop on their own terms (after the files in progress) and say
    // what they did.
    if !matches!(cli.command, Command::Watch(_) | Command::Scan(_)) {
        if let Err(e) = stop_on_signals() {
            eprintln!("fuda: cannot handle SIGTERM, SIGINT and SIGHUP: {e}");
            return cmd::exit_error();
        }
    }
    let result = match cli.command {
        Command::Init(args) => cmd::init::run(args),
        Command::Label(c) => cmd::label::run(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Trust(c) => cmd::trust::run(c),
        Command::Inspect(args) => cmd::envelope::inspect(args),
        Command::Recover(args) => cmd::envelope::recover(args),
        Command::Inventory(args) => cmd::inventory::run(args),
        Command::Classify(args) => cmd::classify::run(args),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Protect(a) => cmd::protect::protect(a),
        Command::Open(a) => cmd::protect::open(a),
        Command::Export(a) => cmd::protect::export(a),
        Command::Save(a) => cmd::save::run(a),
        Command::Edit(a) => cmd::edit::run(a),
        Command::Share(a) => cmd::protect::share(a),
        Command::Unshare(a) => cmd::protect::unshare(a),
        Command::Rights(a) => cmd::protect::rights(a),
        Command::Admin(c) => cmd::admin::run(c),
        Command::Rewrap(a) => cmd::recovery::rewrap(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if output::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("fuda: {}", output::describe(&e));
            cmd::exit_error()
        }
    }
}

/// On SIGTERM, SIGINT or SIGHUP: removes every temporary file and every unverified output
/// still in flight, then ends as the signal would have (exit status 128 + its number).
fn stop_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                fuda_core::fsutil::end_process_removing_in_flight(|| {
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal)
                })
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands below `cmd` (by their full names) that print for people but take no
    /// `--json`.
    fn without_json(cmd: &clap::Command, name: &str, out: &mut Vec<String>) {
        let name = format!("{name} {}", cmd.get_name()).trim().to_owned();
        if cmd.has_subcommands() {
            for sub in cmd.get_subcommands() {
                without_json(sub, &name, out);
            }
        } else if !cmd.get_arguments().any(|a| a.get_id() == "json") {
            out.push(name);
        }
    }

    #[test]
    fn every_command_that_prints_records_takes_json() {
        let mut missing = Vec::new();
        for sub in Cli::command().get_subcommands() {
            without_json(sub, "fuda", &mut missing);
        }
        // open and export write a file's content, watch logs JSON lines on stderr
        // whatever the flags.
        assert_eq!(missing, ["fuda watch", "fuda open", "fuda export"]);
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
