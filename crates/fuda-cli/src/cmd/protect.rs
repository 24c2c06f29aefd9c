//! `fuda protect | open | export | share | unshare | rights`: protected files and their
//! rights, through the key service (remote, or embedded when none is configured).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::label::{Method, Status};
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::policy::Level;
use fuda_core::rights::{Right, Rights};
use fuda_keyd::registry::{Grant, Principal};
use fuda_keyd::service::DocumentRights;
use fuda_keyd::tls::PinMismatch;
use fuda_protect::{LicenceSource, ProtectError, Protected, Protection, Protector};
use serde::Serialize;

use super::exit_error;
use crate::args::{self, OutputArgs};
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, timestamp, Record, Table};

/// Protect files: encrypt them to the key service (and the recovery key) and register them.
#[derive(clap::Args)]
pub struct ProtectArgs {
    /// Files to protect; each becomes NAME.fuda and the original is removed once the
    /// protected copy has been opened and compared.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Level (id, Japanese or English name) [default: the file's label, else the policy's
    /// default level].
    #[arg(long)]
    level: Option<String>,
    /// Extra grant: user:NAME=RIGHTS or group:NAME=RIGHTS (rights: view, edit, print, copy,
    /// export, share, owner), on top of the level's default grants; repeatable.
    #[arg(long = "grant", value_name = "PRINCIPAL=RIGHTS", value_parser = parse_grant)]
    grants: Vec<Grant>,
    /// Last day the document may be opened (YYYY-MM-DD, UTC) [default: the level's expires_days].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    expires: Option<time::Date>,
    /// Keep the original file.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// Open a protected file (the view right).
#[derive(clap::Args)]
pub struct OpenArgs {
    /// The protected file.
    file: PathBuf,
    /// Write the content here (0600, atomically) instead of to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Write a protected file's content out unprotected (the export right).
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The protected file.
    file: PathBuf,
    /// Where to write the plaintext.
    #[arg(long, required = true)]
    out: PathBuf,
}

/// Give someone rights on a protected file (owner, or share up to your own rights).
#[derive(clap::Args)]
pub struct ShareArgs {
    /// The protected file.
    file: PathBuf,
    /// user:NAME=RIGHTS or group:NAME=RIGHTS; repeatable.
    #[arg(long = "grant", value_name = "PRINCIPAL=RIGHTS", required = true, value_parser = parse_grant)]
    grants: Vec<Grant>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Take a user's or group's grant away (owner only).
#[derive(clap::Args)]
pub struct UnshareArgs {
    /// The protected file.
    file: PathBuf,
    /// The user.
    #[arg(long, conflicts_with = "group")]
    user: Option<String>,
    /// The group.
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Show who may do what with a protected file (from the key service).
#[derive(clap::Args)]
pub struct RightsArgs {
    /// The protected file.
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_grant(s: &str) -> Result<Grant, String> {
    s.parse::<Grant>().map_err(|e| e.message())
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    fuda_protect::grants::parse_date(s).map_err(|e| e.to_string())
}

/// `fuda protect --json`: one record per protected file.
#[derive(Serialize)]
struct ProtectedRecord<'a> {
    path: JsonPath<'a>,
    protected: JsonPath<'a>,
    doc: String,
    level: &'a str,
    level_name: &'a str,
    grants: &'a [Grant],
    expires_at: Option<i64>,
    kept_original: bool,
}

impl Record for ProtectedRecord<'_> {
    const TYPE: &'static str = "protected";
}

pub fn protect(args: ProtectArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let account = keyservice::account(&conn, &session)?;
    let protector = Protector::new(
        &account,
        &session.policy,
        session.config.dept.clone(),
        keyservice::hostname(),
    )?;
    let mut failed = 0;
    let mut out = output::stdout();
    for path in &args.paths {
        match protect_one(&session, &protector, &args, path) {
            Ok((done, level)) => {
                if args.output.json {
                    let record = ProtectedRecord {
                        path: JsonPath::new(path),
                        protected: JsonPath::new(&done.path),
                        doc: done.doc.to_string(),
                        level: &level.id,
                        level_name: &level.name_ja,
                        grants: &done.grants,
                        expires_at: done.expires_at,
                        kept_original: args.keep,
                    };
                    output::write_json(&mut out, &record)?;
                } else {
                    writeln!(
                        out,
                        "{} → {}  [{}, doc {}]",
                        escaped(path),
                        escaped(&done.path),
                        level.name_ja,
                        done.doc
                    )?;
                }
            }
            Err(e) => {
                failed += 1;
                out.flush()?;
                // Most errors name the file; the others get it in front.
                let message = output::describe(&e);
                if message.contains(&escaped(path)) {
                    eprintln!("fuda: {message}");
                } else {
                    eprintln!("fuda: {}: {message}", escaped(path));
                }
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

/// Protects one file at the level asked for, else its label's, else the policy's default.
fn protect_one<'s>(
    session: &'s Session,
    protector: &Protector<'_>,
    args: &ProtectArgs,
    path: &Path,
) -> Result<(Protected, &'s Level)> {
    let current = args::configured_labeler(session)?
        .inspect(path)
        .ok()
        .filter(|f| !matches!(f.status, Status::Tampered | Status::Replayed))
        .and_then(|f| f.label);
    let level = fuda_protect::grants::choose_level(
        &session.policy,
        args.level.as_deref(),
        current.as_ref(),
        path,
    )?;
    let done = protector.protect(
        path,
        &Protection {
            level,
            extra: &args.grants,
            expires: args.expires,
            keep: args.keep,
            current: current.as_ref(),
            owners: Vec::new(),
            method: Method::Manual,
            rule: None,
            evidence: Vec::new(),
        },
    )?;
    Ok((done, level))
}

/// Says where an offline licence came from, and loudly when the key service's certificate
/// is not the pinned one.
fn note_source(source: &LicenceSource) {
    if let LicenceSource::Offline {
        until,
        pin_mismatch,
        ..
    } = source
    {
        warn_pin(pin_mismatch.as_ref());
        eprintln!(
            "fuda: note: the key service is unreachable; using the offline licence valid until {}",
            timestamp(*until)
        );
    }
}

/// Falling back to offline licences is no weaker than a blocked connection, but a
/// certificate that is not the pinned one is never passed over in silence.
fn warn_pin(mismatch: Option<&PinMismatch>) {
    if let Some(m) = mismatch {
        eprintln!(
            "fuda: WARNING: the key service's TLS certificate does not match the pinned one (expected {}, seen {}): someone may be intercepting the connection; tell your administrator. Falling back to offline licences.",
            m.expected, m.seen
        );
    }
}

/// The result of asking for a licence, with the warning about a certificate that is not
/// the pinned one said whether an offline licence helped or not.
fn warned<T>(result: Result<T, ProtectError>) -> Result<T> {
    if let Err(ProtectError::Offline { pin_mismatch, .. }) = &result {
        warn_pin(pin_mismatch.as_ref());
    }
    Ok(result?)
}

pub fn open(args: OpenArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let account = keyservice::account(&conn, &session)?;
    let opened = warned(account.open(&args.file, Rights::NONE.with(Right::View)))?;
    note_source(&opened.source);
    match &args.out {
        Some(out) => {
            super::workcopy::write_labeled(&session, opened, &args.file, out, Method::Opened)?;
            eprintln!("{} → {}", escaped(&args.file), escaped(out));
        }
        None => {
            let mut out = output::stdout();
            opened.write_to(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let account = keyservice::account(&conn, &session)?;
    let opened = warned(account.open(
        &args.file,
        Rights::NONE.with(Right::View).with(Right::Export),
    ))?;
    note_source(&opened.source);
    super::workcopy::write_labeled(&session, opened, &args.file, &args.out, Method::Exported)?;
    eprintln!("{} → {}", escaped(&args.file), escaped(&args.out));
    Ok(ExitCode::SUCCESS)
}

/// `fuda share --json` and `fuda unshare --json`: a principal's grant as it now stands.
#[derive(Serialize)]
struct GrantRecord<'a> {
    path: JsonPath<'a>,
    doc: &'a str,
    principal: String,
    /// The rights now held through this grant (empty after unshare).
    rights: Rights,
}

impl Record for GrantRecord<'_> {
    const TYPE: &'static str = "grant";
}

pub fn share(args: ShareArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let mut out = output::stdout();
    for grant in &args.grants {
        let doc = conn.share(&args.file, grant.clone())?;
        if args.output.json {
            let record = GrantRecord {
                path: JsonPath::new(&args.file),
                doc: &doc.id,
                principal: grant.principal.to_string(),
                rights: grant.rights,
            };
            output::write_json(&mut out, &record)?;
        } else {
            writeln!(
                out,
                "{}: {} may now {}",
                escaped(&args.file),
                grant.principal,
                grant.rights
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn unshare(args: UnshareArgs) -> Result<ExitCode> {
    let principal = match (&args.user, &args.group) {
        (Some(u), None) => Principal::User(u.clone()),
        (None, Some(g)) => Principal::Group(g.clone()),
        _ => bail!("name --user NAME or --group NAME"),
    };
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let doc = conn.unshare(&args.file, &principal)?;
    let mut out = output::stdout();
    if args.output.json {
        let record = GrantRecord {
            path: JsonPath::new(&args.file),
            doc: &doc.id,
            principal: principal.to_string(),
            rights: Rights::NONE,
        };
        output::write_json(&mut out, &record)?;
    } else {
        writeln!(
            out,
            "{}: {principal} has no grant any more (effective at their next request)",
            escaped(&args.file)
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `fuda rights --json`: the registration and the caller's rights.
#[derive(Serialize)]
struct RightsRecord<'a> {
    path: JsonPath<'a>,
    #[serde(flatten)]
    rights: &'a DocumentRights,
}

impl Record for RightsRecord<'_> {
    const TYPE: &'static str = "rights";
}

pub fn rights(args: RightsArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let r = conn.rights(&args.file)?;
    let mut out = output::stdout();
    if args.output.json {
        let record = RightsRecord {
            path: JsonPath::new(&args.file),
            rights: &r,
        };
        output::write_json(&mut out, &record)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let d = &r.document;
    let level = session
        .policy
        .level(&d.level)
        .map(|l| l.name_ja.clone())
        .unwrap_or_else(|| d.level.clone());
    writeln!(
        out,
        "{}  doc {}  level {level}  owner {}",
        escaped(&args.file),
        d.id,
        d.owner
    )?;
    if let Some(e) = d.expires_at {
        writeln!(out, "expires {}", timestamp(e))?;
    }
    if d.revoked {
        writeln!(out, "REVOKED for everyone")?;
    }
    writeln!(
        out,
        "your rights: {}",
        if r.rights.is_empty() {
            "none".into()
        } else {
            r.rights.to_string()
        }
    )?;
    let mut t = Table::new(&["principal", "rights"]);
    for g in &d.grants {
        t.row(vec![g.principal.to_string(), g.rights.to_string()]);
    }
    t.print(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
