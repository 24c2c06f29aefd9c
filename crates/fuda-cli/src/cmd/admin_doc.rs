//! `fuda admin doc owner|grant|ungrant`: an administrator (or the owner) gives a protected
//! document a new owner, or changes its grants within the caps of its level, through the
//! key service, which decides and audits. The document is named by its protected file or
//! by its id (`fuda admin documents` lists them).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::label::DocId;
use fuda_keyd::client::KeyService;
use fuda_keyd::registry::{Document, Grant, Principal};

use crate::args::OutputArgs;
use crate::output;

/// `fuda admin doc`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Make someone else the owner (an active person of the directory). The grants stay;
    /// the `owner` grant now means the new owner.
    Owner {
        /// The protected file (NAME.fuda) or the document id.
        document: String,
        /// The new owner's user name.
        #[arg(long, value_name = "USER")]
        to: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Give users or groups rights on the document, within its level's caps (replaces the
    /// principal's grant).
    Grant {
        /// The protected file (NAME.fuda) or the document id.
        document: String,
        /// user:NAME=RIGHTS or group:NAME=RIGHTS (rights: view, edit, print, copy, export,
        /// share, owner); repeatable.
        #[arg(long = "grant", value_name = "PRINCIPAL=RIGHTS", required = true, value_parser = parse_grant)]
        grants: Vec<Grant>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Take a user's or group's grant away.
    Ungrant {
        /// The protected file (NAME.fuda) or the document id.
        document: String,
        /// The user.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        /// The group.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn parse_grant(s: &str) -> Result<Grant, String> {
    s.parse::<Grant>().map_err(|e| e.message())
}

/// The document id of `arg`: a protected file's, or the id itself.
fn doc_id(arg: &str) -> Result<String> {
    let path = Path::new(arg);
    if fuda_core::longpath::symlink_metadata(path).is_ok() {
        return Ok(fuda_protect::doc_of(path)?.to_string());
    }
    match arg.parse::<DocId>() {
        Ok(id) => Ok(id.to_string()),
        Err(_) => bail!(
            "{arg:?} is neither a protected file nor a document id (`fuda admin documents` lists them)"
        ),
    }
}

/// Runs one `admin doc` command on the key service `ks`, printing to `out`.
pub fn execute(ks: &dyn KeyService, command: Command, out: &mut impl Write) -> Result<ExitCode> {
    let (doc, json) = match command {
        Command::Owner {
            document,
            to,
            output,
        } => (ks.transfer(&doc_id(&document)?, &to)?, output.json),
        Command::Grant {
            document,
            grants,
            output,
        } => {
            let id = doc_id(&document)?;
            let mut last = None;
            for g in grants {
                last = Some(ks.grant(&id, g)?);
            }
            (last.expect("clap requires a grant"), output.json)
        }
        Command::Ungrant {
            document,
            user,
            group,
            output,
        } => {
            let principal = match (user, group) {
                (Some(u), None) => Principal::User(u),
                (None, Some(g)) => Principal::Group(g),
                _ => bail!("name --user NAME or --group NAME"),
            };
            (ks.ungrant(&doc_id(&document)?, &principal)?, output.json)
        }
    };
    print(&doc, json, out)?;
    Ok(ExitCode::SUCCESS)
}

/// The document as it now stands: a `document` record, or its owner and grants.
fn print(doc: &Document, json: bool, out: &mut impl Write) -> Result<()> {
    if json {
        return Ok(output::write_json(out, doc)?);
    }
    writeln!(
        out,
        "{}  doc {}  level {}  owner {}  version {}",
        fuda_core::pathname::escaped(&doc.name),
        doc.id,
        doc.level,
        doc.owner,
        doc.version
    )?;
    let mut t = output::Table::new(&["principal", "rights"]);
    for g in &doc.grants {
        t.row(vec![g.principal.to_string(), g.rights.to_string()]);
    }
    t.print(out)?;
    Ok(())
}
