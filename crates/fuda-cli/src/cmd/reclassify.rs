//! `fuda label set LEVEL FILE.fuda`: a protected document's label lives in its encrypted
//! envelope, so its level changes through the key service, which holds the file key,
//! decides (the owner or an administrator; a downgrade needs `--justify`) and audits.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::policy::Level;
use serde::Serialize;

use crate::config::Session;
use crate::keyservice;
use crate::output::{self, Record};

/// `fuda label set --json` on a protected file: its new level.
#[derive(Serialize)]
struct Reclassified<'a> {
    path: JsonPath<'a>,
    doc: &'a str,
    level: &'a str,
    level_name: &'a str,
    owner: &'a str,
}

impl Record for Reclassified<'_> {
    const TYPE: &'static str = "reclassified";
}

/// Puts each protected file of `files` at `level`; returns how many failed (each said on
/// standard error).
pub fn run(
    session: &Session,
    level: &Level,
    justification: Option<&str>,
    files: &[PathBuf],
    json: bool,
) -> Result<usize> {
    if files.is_empty() {
        return Ok(0);
    }
    let conn = keyservice::connect(session)?;
    let account = keyservice::account(&conn, session)?;
    let mut out = output::stdout();
    let mut failed = 0;
    for f in files {
        match account.reclassify(f, &session.policy, level, justification) {
            Ok(doc) if json => output::write_json(
                &mut out,
                &Reclassified {
                    path: JsonPath::new(f),
                    doc: &doc.id,
                    level: &level.id,
                    level_name: &level.name_ja,
                    owner: &doc.owner,
                },
            )?,
            Ok(doc) => writeln!(
                out,
                "{}  {}  [key service, doc {}]",
                escaped(f),
                level.name_ja,
                doc.id
            )?,
            Err(e) => {
                failed += 1;
                out.flush()?;
                eprintln!("fuda: {}", output::describe(&e.into()));
            }
        }
    }
    out.flush()?;
    Ok(failed)
}
