//! `fuda rewrap --to-service FILE…|-r DIR`: files protected with the personal (embedded)
//! key service of this machine, before its user joined a team key service, are registered
//! with the team service (same document id, owner kept) so that they open after joining.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::pathname::{escaped, JsonPath};
use fuda_protect::{Account, Protector};
use serde::Serialize;

use super::exit_error;
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, Record};

/// `rewrap --json`: one protected file.
#[derive(Serialize)]
pub(super) struct RewrapRecord<'a> {
    pub(super) path: JsonPath<'a>,
    /// `rewrapped` or `current` (already carried every recovery recipient); with
    /// `--to-service`, `registered`.
    pub(super) outcome: &'static str,
}

impl Record for RewrapRecord<'_> {
    const TYPE: &'static str = "file";
}

/// Registers every protected file of `paths` (with `recursive`, under directories) that
/// the personal key service opens with the team service; prints one record per file.
pub fn run(session: &Session, paths: &[PathBuf], recursive: bool, json: bool) -> Result<ExitCode> {
    if session.config.service.is_none() {
        bail!("--to-service registers files with a team key service: join one first with `fuda init --service URL --enroll CODE`");
    }
    if !keyservice::embedded_dir()?
        .join(fuda_keyd::service::DB_FILE)
        .exists()
    {
        bail!("there is no personal key service on this machine: no file was protected here before joining the team service");
    }
    let personal_conn = keyservice::embedded(session)?;
    let personal = Account {
        conn: &personal_conn,
        identity: &session.identity,
        licences: None,
    };
    let team_conn = keyservice::connect(session)?;
    let team = keyservice::account(&team_conn, session)?;
    let protector = Protector::new(
        &team,
        &session.policy,
        session.config.dept.clone(),
        keyservice::hostname(),
    )?;
    let files = crate::walk::expand(paths, recursive)?;
    let mut out = output::stdout();
    let mut failed = 0;
    for path in files
        .iter()
        .filter(|f| fuda_core::store::envelope::is_protected(f))
    {
        match protector.adopt(&personal, path) {
            Ok(done) if json => output::write_json(
                &mut out,
                &RewrapRecord {
                    path: JsonPath::new(path),
                    outcome: if done.is_some() {
                        "registered"
                    } else {
                        "current"
                    },
                },
            )?,
            Ok(Some(done)) => writeln!(
                out,
                "{}: registered with the team key service  [doc {}, owner {}]",
                escaped(path),
                done.doc,
                done.owner
            )?,
            Ok(None) => writeln!(
                out,
                "{}: current (registered with the team key service already)",
                escaped(path)
            )?,
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
