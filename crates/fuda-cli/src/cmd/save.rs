//! `fuda save WORKCOPY`: a changed working copy of a protected document (written by `fuda
//! open --out`, labeled with the document) goes back as the document's next version — the
//! same document id, the version recorded by the key service, which checks the `edit`
//! right — and the working copy is removed (unless `--keep`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use fuda_core::envelope;
use fuda_core::pathname::{escaped, JsonPath};
use fuda_protect::Saved;
use serde::Serialize;

use crate::args::OutputArgs;
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, Record};

/// Save a changed working copy back as a new version of its protected document (the edit
/// right).
#[derive(clap::Args)]
pub struct SaveArgs {
    /// The working copy (written by `fuda open --out`; its label names the document).
    file: PathBuf,
    /// The protected file it came from [default: FILE.fuda beside it].
    #[arg(long, value_name = "FILE.fuda")]
    to: Option<PathBuf>,
    /// Keep the working copy.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `fuda save --json`: the version saved.
#[derive(Serialize)]
struct SavedRecord<'a> {
    path: JsonPath<'a>,
    protected: JsonPath<'a>,
    doc: String,
    version: u32,
    removed_working_copy: bool,
}

impl Record for SavedRecord<'_> {
    const TYPE: &'static str = "saved";
}

pub fn run(args: SaveArgs) -> Result<ExitCode> {
    if fuda_core::store::envelope::is_protected(&args.file) {
        bail!(
            "{} is the protected file: save the working copy (the file `fuda open --out` wrote)",
            escaped(&args.file)
        );
    }
    let protected = args
        .to
        .clone()
        .unwrap_or_else(|| envelope::protected_path(&args.file));
    if fuda_core::longpath::symlink_metadata(&protected).is_err() {
        bail!(
            "{} not found: name the protected file the working copy came from with --to FILE.fuda",
            escaped(&protected)
        );
    }
    let session = Session::load(None)?;
    let label = super::workcopy::document_label(&session, &args.file).map_err(|e| {
        anyhow!(
            "{e:#}: {} is not a labeled working copy (write one with `fuda open FILE.fuda --out {}`)",
            escaped(&args.file),
            escaped(&args.file)
        )
    })?;
    let conn = keyservice::connect(&session)?;
    let account = keyservice::account(&conn, &session)?;
    let saved = account.save(&args.file, &label, &protected, args.keep)?;
    print(&args.file, &saved, args.output.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the version saved from the working copy `work`.
pub(super) fn print(work: &Path, saved: &Saved, json: bool) -> Result<()> {
    let mut out = output::stdout();
    if json {
        let record = SavedRecord {
            path: JsonPath::new(work),
            protected: JsonPath::new(&saved.path),
            doc: saved.doc.to_string(),
            version: saved.version,
            removed_working_copy: saved.removed,
        };
        output::write_json(&mut out, &record)?;
    } else {
        writeln!(
            out,
            "{} → {}  [version {}, doc {}]",
            escaped(work),
            escaped(&saved.path),
            saved.version,
            saved.doc
        )?;
    }
    out.flush()?;
    Ok(())
}
