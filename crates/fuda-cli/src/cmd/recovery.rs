//! The organisation's recovery key on the key service: `fuda admin recovery show|rotate`
//! and `fuda rewrap`, which brings existing protected files to the recipients in force.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fuda_core::envelope::x25519::Identity;
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::recovery_key;
use fuda_keyd::client::KeyService;
use fuda_protect::{Rewrapper, Rewritten};
use serde::Serialize;

use super::exit_error;
use super::to_service::RewrapRecord;
use crate::args::OutputArgs;
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, Record};

/// `fuda admin recovery`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List the recovery recipients every protected file carries.
    Show(OutputArgs),
    /// Add a recovery recipient (audited): files protected from now on carry it, and
    /// `fuda rewrap -r DIR` brings existing files to it. Give the public key of a key made
    /// offline (--recipient), or let fuda make one and write it once (--out, --shares).
    Rotate(RotateArgs),
}

/// `fuda admin recovery rotate`.
#[derive(clap::Args)]
pub struct RotateArgs {
    /// The new recovery recipient (age1…), for a key made offline (`age-keygen`).
    #[arg(long, value_name = "AGE1…", required_unless_present = "out", conflicts_with_all = ["out", "shares"])]
    recipient: Option<String>,
    /// Make a new recovery key here and write it once (0600); move it offline.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// With --out: write N printable shares (FILE.share-I-of-N), any M of which open
    /// every protected file, instead of the whole key.
    #[arg(long, value_name = "M/N", requires = "out")]
    shares: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `admin recovery show|rotate --json`: the recipients in force.
#[derive(Serialize)]
struct Recipients<'a> {
    recipients: &'a [String],
    /// The recipient just added (rotate).
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    /// The files the new key was written to (rotate --out).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    files: &'a [PathBuf],
}

impl Record for Recipients<'_> {
    const TYPE: &'static str = "recovery";
}

/// Runs `fuda admin recovery …` on `ks`.
pub fn admin(ks: &dyn KeyService, command: Command, out: &mut impl std::io::Write) -> Result<()> {
    match command {
        Command::Show(output) => {
            let recipients = ks.recovery_recipients()?;
            if output.json {
                let record = Recipients {
                    recipients: &recipients,
                    recipient: None,
                    files: &[],
                };
                output::write_json(out, &record)?;
            } else if recipients.is_empty() {
                writeln!(
                    out,
                    "no recovery recipient: protected files open only through this service; add one with `fuda admin recovery rotate`"
                )?;
            } else {
                for r in &recipients {
                    writeln!(out, "{r}")?;
                }
            }
        }
        Command::Rotate(a) => {
            let (recipient, files) = match (&a.recipient, &a.out) {
                (Some(r), _) => (r.trim().to_owned(), Vec::new()),
                (None, Some(file)) => {
                    let shares = a
                        .shares
                        .as_deref()
                        .map(recovery_key::parse_split)
                        .transpose()?;
                    if let Some(t) = recovery_key::targets(file, shares)
                        .iter()
                        .find(|t| t.symlink_metadata().is_ok())
                    {
                        bail!("{} already exists: fuda never overwrites a recovery key; move it away or choose another --out", escaped(t));
                    }
                    let identity = Identity::generate();
                    let files = recovery_key::write_new(&identity, file, shares)
                        .context("cannot write the new recovery key; nothing changed")?;
                    (identity.to_public().to_string(), files)
                }
                (None, None) => bail!("give --recipient age1… or --out FILE"),
            };
            let recipients = match ks.recovery_add(&recipient) {
                Ok(r) => r,
                Err(e) => {
                    // The service refused: the key just written protects nothing.
                    for f in &files {
                        let _ = std::fs::remove_file(f);
                    }
                    return Err(e.into());
                }
            };
            if a.output.json {
                let record = Recipients {
                    recipients: &recipients,
                    recipient: Some(&recipient),
                    files: &files,
                };
                output::write_json(out, &record)?;
            } else {
                writeln!(
                    out,
                    "recovery recipient {recipient} added; files protected from now on carry it"
                )?;
                for f in &files {
                    writeln!(
                        out,
                        "  written once to {} (0600): move it offline now",
                        escaped(f)
                    )?;
                }
                writeln!(
                    out,
                    "Bring existing files to it: fuda rewrap -r DIR (as an admin)"
                )?;
            }
        }
    }
    Ok(())
}

/// Bring protected files to the organisation's recovery recipients in force.
///
/// After `fuda admin recovery rotate`, run this over the shares (as an admin): the key
/// service adds a stanza for each recovery recipient a file lacks, and the file's header is
/// replaced atomically; the encrypted content is not touched and never decrypted. Files
/// that already carry every recipient are not rewritten.
#[derive(clap::Args)]
pub struct RewrapArgs {
    /// Protected files (NAME.fuda), or directories with -r.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Include everything under directories (only .fuda files are rewrapped).
    #[arg(short, long)]
    recursive: bool,
    /// Register files protected before you joined the team key service (with the
    /// personal key service of this machine) with the team service: the same document id
    /// and owner, the level's default grants; after that they open for everyone it allows.
    #[arg(long)]
    to_service: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `fuda rewrap`.
pub fn rewrap(args: RewrapArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    if args.to_service {
        return super::to_service::run(&session, &args.paths, args.recursive, args.output.json);
    }
    let conn = keyservice::connect(&session)?;
    let rewrapper = Rewrapper::new(&*conn.client)?;
    if rewrapper.recipients().is_empty() {
        bail!("the key service has no recovery recipient: add one with `fuda admin recovery rotate` first");
    }
    let files = crate::walk::expand(&args.paths, args.recursive)?;
    let ext = Some(std::ffi::OsStr::new(fuda_core::envelope::EXTENSION));
    let mut failed = 0;
    let mut out = output::stdout();
    for path in files.iter().filter(|f| f.extension() == ext) {
        match rewrapper.rewrap(path) {
            Ok(done) => {
                let outcome = match done {
                    Rewritten::Rewrapped => "rewrapped",
                    Rewritten::Current => "current",
                };
                if args.output.json {
                    let record = RewrapRecord {
                        path: JsonPath::new(path),
                        outcome,
                    };
                    output::write_json(&mut out, &record)?;
                } else {
                    writeln!(out, "{}: {outcome}", escaped(path))?;
                }
            }
            Err(e) => {
                failed += 1;
                out.flush()?;
                eprintln!("fuda: {}", output::describe(&e.into()));
            }
        }
    }
    out.flush()?;
    Ok(if failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}
