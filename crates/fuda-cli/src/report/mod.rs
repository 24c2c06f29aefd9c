//! Reporting this machine's files to the key service's company file index
//! (`fuda inventory --report`, `fuda watch --report`).
//!
//! The machine is a reporting identity of the directory (kind `machine`, or the `hook`
//! that labels its shares), enrolled with `fuda init --service URL --enroll CODE --machine
//! NAME`; `machine.toml` in the config folder names it. A report sends only what changed
//! since the last report the service acknowledged ([`state`]): a walk that looks only at
//! metadata ([`scan`]) finds the files to read, the inventory's reader makes their records
//! ([`read`]), and the records that differ from the acknowledged ones go out in signed
//! chunks ([`send`]). [`stream`] does the same for the watcher's events, a few at a time.

pub mod read;
pub mod scan;
pub mod send;
pub mod state;
pub mod stream;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fuda_keyd::client::KeyService;
use serde::{Deserialize, Serialize};

use crate::config::{self, Session};
use crate::output::{self, Record};

/// `machine.toml`: this machine's reporting identity.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// The machine's name: its directory entry (kind machine or hook).
    pub name: String,
    /// How often it reports (seconds); the service flags it as stale after that.
    pub interval_s: u32,
}

impl MachineConfig {
    /// Where it is kept.
    pub fn path() -> Result<PathBuf> {
        Ok(config::config_dir()?.join("machine.toml"))
    }

    /// Reads it; an error that says how to enroll when there is none.
    pub fn load() -> Result<MachineConfig> {
        let path = MachineConfig::path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "this machine has no reporting identity ({} does not exist): enroll it with `fuda init --service URL --enroll CODE --machine NAME` (an admin makes the code with `fuda admin user add NAME --kind machine`)",
                fuda_core::pathname::escaped(&path)
            ),
            Err(e) => return Err(e).with_context(|| fuda_core::pathname::escaped(&path)),
        };
        toml::from_str(&text).with_context(|| format!("{}: not a machine.toml", path.display()))
    }

    /// Writes it (0600, atomically).
    pub fn save(&self) -> Result<()> {
        let path = MachineConfig::path()?;
        let text = toml::to_string(self).expect("machine.toml serialises");
        fuda_core::fsutil::write_atomic(&path, text.as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Checks that an enrollment made `user` the reporting identity `machine`: a directory
/// entry of kind machine or hook, of that name.
pub fn check_machine(user: &fuda_keyd::directory::User, machine: &str) -> Result<()> {
    use fuda_keyd::directory::EntryKind;
    if user.name != machine {
        bail!(
            "the enrollment code is for {}, not the machine {machine}: ask the admin for a code of {machine} (`fuda admin user code {machine}`)",
            user.name
        );
    }
    if !matches!(user.kind, EntryKind::Machine | EntryKind::Hook) {
        bail!(
            "{machine} is a {} in the key service's directory, not a machine: ask the admin to add the machine with `fuda admin user add {machine} --kind machine` and give you its code",
            user.kind.as_str()
        );
    }
    Ok(())
}

/// Reads an interval: seconds, or a number with `s`, `m`, `h` or `d` (`30m`, `24h`, `7d`).
pub fn parse_interval(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    let seconds = number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&s| s > 0 && s <= fuda_keyd::report::MAX_INTERVAL_S)
        .ok_or_else(|| {
            format!("{text:?} is not an interval from 1 s to 90 d (e.g. 30m, 24h, 7d)")
        })?;
    Ok(seconds)
}

/// Everything a report needs: the machine, its key, the service and the state.
pub struct Reporting {
    /// The machine's reporting identity.
    pub machine: MachineConfig,
    /// The key service.
    pub client: Box<dyn KeyService>,
    /// The acknowledged state.
    pub state: state::State,
    /// The service's URL (for messages).
    pub url: String,
}

impl Reporting {
    /// Opens the machine's reporting identity, its key service and its acknowledged state.
    pub fn open(session: &Session) -> Result<Reporting> {
        let machine = MachineConfig::load()?;
        let Some(service) = &session.config.service else {
            bail!("--report sends to the key service, and none is configured: enroll this machine with `fuda init --service URL --enroll CODE --machine NAME`");
        };
        if session.config.user != machine.name {
            bail!(
                "machine.toml names {} but this identity is enrolled as {}: enroll again with `fuda init --service URL --enroll CODE --machine NAME`",
                machine.name,
                session.config.user
            );
        }
        let client = Box::new(crate::keyservice::remote(service)?);
        let state = state::State::open(
            &config::state_dir()?.join("report-acked.db"),
            &format!("{}/{}", service.id, machine.name),
            &context(session),
        )?;
        Ok(Reporting {
            machine,
            client,
            state,
            url: service.url.clone(),
        })
    }
}

/// What a file's record depends on besides the file: the policy in force and the
/// trusted signers (a new signer turns `unverified` labels `valid`).
fn context(session: &Session) -> String {
    let mut signers: Vec<String> = session
        .trust
        .signers()
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s.name,
                fuda_core::trust::encode_public_key(&s.public_key)
            )
        })
        .collect();
    signers.sort();
    let text = format!("{}\n{}", session.policy, signers.join("\n"));
    fuda_core::digest::Digest::of_bytes(text.as_bytes()).to_string()
}

/// `inventory --report --json`: what a report sent.
#[derive(Serialize)]
struct ReportRecord<'a> {
    /// The key service's URL.
    service: &'a str,
    machine: &'a str,
    /// Files whose records were sent (new or changed).
    sent: u64,
    /// Removals sent.
    removed: u64,
    /// Files skipped: unchanged since the last acknowledged report.
    unchanged: u64,
    /// Files read again whose records had not changed.
    reread: u64,
    chunks: u32,
    bytes: u64,
}

impl Record for ReportRecord<'_> {
    const TYPE: &'static str = "report";
}

/// The flags of `fuda inventory --report`.
#[derive(clap::Args, Debug, Default)]
pub struct InventoryReportArgs {
    /// Send this machine's files to the key service's company file index instead of
    /// writing a ledger: only what changed since the last report the service acknowledged
    /// (new and changed files, removals). For a systemd timer or cron; needs a machine
    /// enrolled with `fuda init --service URL --enroll CODE --machine NAME`.
    #[arg(long, conflicts_with_all = ["out", "since", "format", "from_service", "memory"])]
    pub report: bool,
    /// With --report: forget what the service acknowledged and send every file again
    /// (after the service's index was restored from an older backup).
    #[arg(long, requires = "report")]
    pub report_all: bool,
    /// With --report: how often this machine reports (e.g. 24h, 7d); the service flags it
    /// as stale after that [default: as at enrollment].
    #[arg(long, requires = "report", value_parser = parse_interval, value_name = "INTERVAL")]
    pub report_interval: Option<u32>,
}

/// `fuda inventory --report ROOTS`: reports what changed under `roots`.
pub fn inventory(
    session: &Session,
    roots: &[PathBuf],
    args: &InventoryReportArgs,
    jobs: usize,
    json: bool,
    quiet: bool,
) -> Result<()> {
    let mut roots_abs = Vec::with_capacity(roots.len());
    for r in roots {
        roots_abs.push(std::path::absolute(r).with_context(|| fuda_core::pathname::escaped(r))?);
    }
    let mut reporting = Reporting::open(session)?;
    if args.report_all {
        reporting.state.forget()?;
    }
    let interval = args.report_interval.unwrap_or(reporting.machine.interval_s);
    let snapshot = reporting.state.snapshot()?;
    let plan = scan::plan(&roots_abs, &snapshot, reporting.state.stamps_valid)?;
    drop(snapshot);
    let digests = session.digest_cache(fuda_core::labeling::now());
    let labeler = fuda_core::labeling::Labeler {
        digests: Some(&digests),
        ..crate::args::configured_labeler(session)?
    };
    let Reporting {
        machine,
        client,
        mut state,
        url,
    } = reporting;
    let mut sender = send::Sender::new(
        client.as_ref(),
        &session.identity,
        &machine.name,
        Some(interval),
        5,
    );
    let mut reread = 0u64;
    let unchanged = plan.unchanged as u64;
    read::records(&labeler, &roots_abs, plan.candidates, jobs, |c, entry| {
        match entry {
            Some(entry) => {
                let record = read::record_json(entry);
                let digest = state::short(&record);
                if c.acked == Some(digest) {
                    reread += 1;
                    sender.restamp(c.path, c.stamp);
                    return Ok(());
                }
                let acked = state::Acked {
                    path: c.path,
                    record: digest,
                    stamp: c.stamp,
                };
                sender.file(&mut state, acked, record)
            }
            // Gone between the walk and the read: the service forgets it if it had it.
            None if c.acked.is_some() => sender.removal(&mut state, c.path),
            None => Ok(()),
        }
    })?;
    for path in plan.removed {
        sender.removal(&mut state, path)?;
    }
    let sent = sender.finish(&mut state)?;
    session.save_memo();
    let _ = digests.save();
    let record = ReportRecord {
        service: &url,
        machine: &machine.name,
        sent: sent.files,
        removed: sent.removed,
        unchanged,
        reread,
        chunks: sent.chunks,
        bytes: sent.bytes,
    };
    let mut out = output::stdout();
    if json {
        output::write_json(&mut out, &record)?;
    } else if !quiet {
        writeln!(
            out,
            "reported {} to {url}: {} new or changed, {} removed, {} unchanged ({} chunks, {} bytes sent)",
            machine.name,
            sent.files,
            sent.removed,
            unchanged + reread,
            sent.chunks,
            sent.bytes
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Whether `path` lies under one of `roots`.
pub fn under(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}
