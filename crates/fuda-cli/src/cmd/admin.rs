//! `fuda admin`: users, groups, revocations, documents, audit and key rotation on the key
//! service (the remote one, or your embedded one, of which you are the admin).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use fuda_core::label::DocId;
use fuda_core::pathname::escaped;
use fuda_keyd::audit::{self, Query, Verification};
use fuda_keyd::directory::{Group, NewUser, User, UserStatus};
use fuda_keyd::policy::{Applied, PolicySet, SignedPolicy};
use fuda_keyd::registry::{Document, Revocation};
use fuda_keyd::service::{RevokeTarget, ServiceInfo, UserAdded};
use serde::Serialize;

use super::exit_findings;
use crate::args::OutputArgs;
use crate::config::Session;
use crate::keyservice;
use crate::output::{self, timestamp, Record, Table};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add, disable, enable and list users.
    #[command(subcommand)]
    User(UserCommand),
    /// Create groups and manage members (a user's department is a group too).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Revoke a document for everyone, a user everywhere, or a user on one document.
    /// Effective at the next licence request; offline licences already issued run out by
    /// their level's offline_days.
    Revoke(RevokeArgs),
    /// Lift a revocation (same arguments as revoke).
    Unrevoke(RevokeArgs),
    /// List registered documents.
    Documents(OutputArgs),
    /// Show the audit log, or verify its hash chain (--verify: exit 1 if it was tampered with).
    Audit(AuditArgs),
    /// Add a new wrapping key version: new files use it, old files keep opening.
    RotateKey(OutputArgs),
    /// Sign in to the browser console: asks the key service for a log-in link that works
    /// once, for 5 minutes, for you only (an admin, or an auditor who may only read),
    /// and opens it in your browser. The session then ends after 30 minutes without use,
    /// or 12 hours after signing in.
    Console(ConsoleArgs),
    /// The organisation's policy, held by the key service: set a new version, show one,
    /// re-apply it to documents already protected.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The organisation's recovery key: show its recipients, or add one (rotate).
    #[command(subcommand)]
    Recovery(super::recovery::Command),
    /// One protected document: a new owner, or its grants (within its level's caps).
    #[command(subcommand)]
    Doc(super::admin_doc::Command),
    /// The company-wide ledger from every machine's reports (admins and auditors).
    Ledger(super::ledger::Args),
}

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Make a policy file the organisation's policy (a new version). A file with problems
    /// is refused with each problem's file:line:column, as by `fuda policy check`, and the
    /// previous version stays in force. Every client uses the new version within 10
    /// minutes; documents already protected keep their caps until `fuda admin policy apply`.
    Set {
        /// The policy file (TOML).
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show the current policy version (or --version N): who set it, when, from which file,
    /// and its text.
    Show {
        /// The service's version number of the policy.
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Re-apply the current policy to every protected document: rights, offline days and
    /// expiry beyond their level's caps are tightened (never widened).
    Apply(OutputArgs),
}

/// What a directory entry is (`--kind`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EntryKindArg {
    /// A member of staff.
    Person,
    /// A file-server hook.
    Hook,
    /// A machine reporting its files.
    Machine,
}

impl From<EntryKindArg> for fuda_keyd::directory::EntryKind {
    fn from(k: EntryKindArg) -> Self {
        match k {
            EntryKindArg::Person => Self::Person,
            EntryKindArg::Hook => Self::Hook,
            EntryKindArg::Machine => Self::Machine,
        }
    }
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a user; prints their one-time enrollment code.
    Add {
        /// Login name.
        name: String,
        /// Department (also a group for grants).
        #[arg(long)]
        dept: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Make them an admin.
        #[arg(long, conflicts_with = "auditor")]
        admin: bool,
        /// Make them an auditor: they read the company ledger, the registry, the
        /// directory and the audit log, and can change nothing.
        #[arg(long)]
        auditor: bool,
        /// What the entry is: a person, a file-server hook (`fuda watch`, `fuda scan
        /// --apply` on a share) or a machine reporting its files. Hooks and machines enroll
        /// with `fuda init` like people, and their labels show as theirs.
        #[arg(long, value_enum, default_value_t = EntryKindArg::Person)]
        kind: EntryKindArg,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Disable a user: every request of theirs is refused from now on.
    Disable {
        /// Login name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A new one-time enrollment code for a user (new machine, lost token). Redeeming it
    /// ends the user's older tokens.
    Code {
        /// Login name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// End every API token of a user now (lost laptop, leaked token): their next request
    /// is refused until they enroll again with a new code.
    RevokeTokens {
        /// Login name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List users.
    List(OutputArgs),
}

#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add {
        /// Group name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Add a user to a group.
    AddMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Remove a user from a group.
    RemoveMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List groups and members.
    List(OutputArgs),
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// The document id.
    #[arg(long)]
    doc: Option<DocId>,
    /// The user.
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only this document.
    #[arg(long)]
    doc: Option<DocId>,
    /// Only records by or about this user.
    #[arg(long)]
    user: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Verify the whole chain instead of listing: every record's hash and link, and
    /// that the log is not shorter than the newest checkpoint the service signed that this
    /// machine kept (and the service's own): a cut-off tail fails with the records removed.
    #[arg(long)]
    verify: bool,
    /// With --verify: also check against this checkpoint file, e.g. one collected from a
    /// staff machine (~/.local/state/fuda/audit-checkpoint.json); repeatable. One the
    /// service did not sign is refused.
    #[arg(long, value_name = "FILE", requires = "verify")]
    checkpoint: Vec<std::path::PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `admin user list|disable|enable --json`: a user of the key service.
impl Record for User {
    const TYPE: &'static str = "user";
}

/// `admin user add|code --json`: a user and their one-time enrollment code.
impl Record for UserAdded {
    const TYPE: &'static str = "enrollment_code";
}

/// `admin group list|add --json`: a group and its members.
impl Record for Group {
    const TYPE: &'static str = "group";
}

/// `admin documents --json`: a protected document the key service registered.
impl Record for Document {
    const TYPE: &'static str = "document";
}

/// `admin audit --json`: one record of the audit log.
impl Record for audit::Record {
    const TYPE: &'static str = "audit_record";
}

/// `admin audit --verify --json`: whether the audit log's hash chain is intact.
impl Record for Verification {
    const TYPE: &'static str = "audit_verification";
}

/// `admin rotate-key --json`: the key service's current wrapping key.
impl Record for ServiceInfo {
    const TYPE: &'static str = "wrapping_key";
}

/// `admin console --json`: a one-time log-in link to the browser console.
#[derive(Serialize)]
struct ConsoleLinkRecord<'a> {
    /// The URL to open; it works once.
    url: &'a str,
    /// Whose session it opens.
    user: &'a str,
    /// When it stops working (RFC 3339).
    expires_at: String,
}

impl Record for ConsoleLinkRecord<'_> {
    const TYPE: &'static str = "console_link";
}

/// `admin revoke --json`: a revocation in force.
impl Record for Revocation {
    const TYPE: &'static str = "revocation";
}

/// `admin unrevoke --json`: a revocation lifted.
#[derive(Serialize)]
struct Lifted<'a> {
    doc: Option<&'a str>,
    user: Option<&'a str>,
}

impl Record for Lifted<'_> {
    const TYPE: &'static str = "revocation_lifted";
}

/// `admin user revoke-tokens --json`: the API tokens of a user ended.
#[derive(Serialize)]
struct TokensRevoked<'a> {
    user: &'a str,
    /// How many tokens ended.
    revoked: usize,
}

impl Record for TokensRevoked<'_> {
    const TYPE: &'static str = "tokens_revoked";
}

/// `admin group add-member|remove-member --json`: whether a user is in a group now.
#[derive(Serialize)]
struct Membership<'a> {
    group: &'a str,
    user: &'a str,
    member: bool,
}

impl Record for Membership<'_> {
    const TYPE: &'static str = "membership";
}

impl Record for PolicySet {
    const TYPE: &'static str = "policy_set";
}

impl Record for Applied {
    const TYPE: &'static str = "policy_apply";
}

/// `admin policy show --json`: one version of the organisation's policy.
#[derive(Serialize)]
struct PolicyVersionShown<'a> {
    version: u32,
    origin: &'a str,
    set_by: &'a str,
    set_at: i64,
    text: &'a str,
}

impl Record for PolicyVersionShown<'_> {
    const TYPE: &'static str = "policy_version";
}

pub fn run(command: Command) -> Result<ExitCode> {
    let session = Session::load(None)?;
    if let Command::Ledger(args) = command {
        return super::ledger::run(args, &session);
    }
    if matches!(command, Command::Policy(_)) && session.config.service.is_none() {
        bail!(
            "the organisation's policy lives on a key service (`fuda init --service URL --enroll CODE`); without one, the policy is the one config.toml names (`fuda init --policy FILE`)"
        );
    }
    let conn = keyservice::connect(&session)?;
    let ks = &*conn.client;
    let mut out = output::stdout();
    let code = execute(ks, command, session.config.service.as_ref(), &mut out)?;
    out.flush()?;
    Ok(code)
}

/// The whole command a new user runs with their enrollment `code`: with the service's URL
/// and fingerprint, or, for the embedded service, on this machine.
fn enroll_command(
    service: Option<&crate::config::ServiceConfig>,
    name: &str,
    code: &str,
) -> String {
    match service {
        Some(s) => format!(
            "fuda init --name {name} --service {} --enroll {code} --ca-fingerprint {}",
            s.url, s.fingerprint
        ),
        None => format!("fuda init --name {name} --enroll {code}   (on this machine)"),
    }
}

/// Runs one admin command on the key service `ks` (`service`: the remote one configured,
/// for the enrollment commands printed), printing to `out`.
fn execute(
    ks: &dyn fuda_keyd::client::KeyService,
    command: Command,
    service: Option<&crate::config::ServiceConfig>,
    out: &mut impl std::io::Write,
) -> Result<ExitCode> {
    match command {
        Command::User(UserCommand::Add {
            name,
            dept,
            display_name,
            admin,
            auditor,
            kind,
            output,
        }) => {
            let added = ks.user_add(NewUser {
                name,
                display_name,
                dept,
                admin,
                auditor,
                kind: kind.into(),
            })?;
            if output.json {
                output::write_json(out, &added)?;
            } else {
                writeln!(
                    out,
                    "Added {} ({})",
                    added.user.name,
                    added.user.dept.as_deref().unwrap_or("no department")
                )?;
                writeln!(
                    out,
                    "One-time enrollment code (valid 7 days): {}",
                    added.code
                )?;
                writeln!(out, "{} enrolls with:", added.user.name)?;
                writeln!(
                    out,
                    "  {}",
                    enroll_command(service, &added.user.name, &added.code)
                )?;
            }
        }
        Command::User(UserCommand::Disable { name, output }) => {
            let user = ks.user_status(&name, UserStatus::Disabled)?;
            if output.json {
                output::write_json(out, &user)?;
            } else {
                writeln!(
                    out,
                    "{name} is disabled: every request of theirs is refused from now on"
                )?;
            }
        }
        Command::User(UserCommand::Enable { name, output }) => {
            let user = ks.user_status(&name, UserStatus::Active)?;
            if output.json {
                output::write_json(out, &user)?;
            } else {
                writeln!(
                    out,
                    "{name} is enabled; disabling ended their API tokens, so they enroll again with a new code (`fuda admin user code {name}`)"
                )?;
            }
        }
        Command::User(UserCommand::RevokeTokens { name, output }) => {
            let revoked = ks.revoke_tokens(&name)?;
            if output.json {
                let ended = TokensRevoked {
                    user: &name,
                    revoked,
                };
                output::write_json(out, &ended)?;
            } else {
                writeln!(
                    out,
                    "Ended {revoked} API token(s) of {name}: they enroll again with a new code (`fuda admin user code {name}`)"
                )?;
            }
        }
        Command::User(UserCommand::Code { name, output }) => {
            let added = ks.user_code(&name)?;
            if output.json {
                output::write_json(out, &added)?;
            } else {
                writeln!(
                    out,
                    "One-time enrollment code for {name} (valid 7 days): {}",
                    added.code
                )?;
                writeln!(out, "{name} enrolls with:")?;
                writeln!(out, "  {}", enroll_command(service, &name, &added.code))?;
            }
        }
        Command::User(UserCommand::List(output)) => {
            let users = ks.user_list()?;
            if output.json {
                for u in &users {
                    output::write_json(out, u)?;
                }
            } else {
                let mut t = Table::new(&[
                    "user",
                    "kind",
                    "display name",
                    "dept",
                    "groups",
                    "status",
                    "admin",
                    "enrolled",
                ]);
                for u in users {
                    t.row(vec![
                        u.name,
                        u.kind.as_str().into(),
                        u.display_name,
                        u.dept.unwrap_or_default(),
                        u.groups.join(","),
                        u.status.as_str().into(),
                        if u.admin { "yes" } else { "" }.into(),
                        if u.recipient.is_some() { "yes" } else { "no" }.into(),
                    ]);
                }
                t.print(out)?;
            }
        }
        Command::Group(GroupCommand::Add { name, output }) => {
            ks.group_add(&name)?;
            if output.json {
                let group = Group {
                    name,
                    members: Vec::new(),
                };
                output::write_json(out, &group)?;
            } else {
                writeln!(out, "group {name} created")?;
            }
        }
        Command::Group(GroupCommand::AddMember {
            group,
            user,
            output,
        }) => {
            ks.group_member(&group, &user, true)?;
            if output.json {
                let membership = Membership {
                    group: &group,
                    user: &user,
                    member: true,
                };
                output::write_json(out, &membership)?;
            } else {
                writeln!(out, "{user} is in {group}")?;
            }
        }
        Command::Group(GroupCommand::RemoveMember {
            group,
            user,
            output,
        }) => {
            ks.group_member(&group, &user, false)?;
            if output.json {
                let membership = Membership {
                    group: &group,
                    user: &user,
                    member: false,
                };
                output::write_json(out, &membership)?;
            } else {
                writeln!(out, "{user} is no longer in {group}")?;
            }
        }
        Command::Group(GroupCommand::List(output)) => {
            let groups = ks.group_list()?;
            if output.json {
                for g in &groups {
                    output::write_json(out, g)?;
                }
            } else {
                let mut t = Table::new(&["group", "members"]);
                for g in groups {
                    t.row(vec![g.name, g.members.join(", ")]);
                }
                t.print(out)?;
            }
        }
        Command::Revoke(a) => {
            let json = a.output.json;
            let target = target(a)?;
            let what = describe(&target);
            let revocation = ks.revoke(target)?;
            if json {
                output::write_json(out, &revocation)?;
            } else {
                writeln!(out, "revoked {what}: effective at the next request")?;
            }
        }
        Command::Unrevoke(a) => {
            let json = a.output.json;
            let target = target(a)?;
            let what = describe(&target);
            ks.unrevoke(target.clone())?;
            if json {
                let lifted = Lifted {
                    doc: target.doc.as_deref(),
                    user: target.user.as_deref(),
                };
                output::write_json(out, &lifted)?;
            } else {
                writeln!(out, "lifted the revocation of {what}")?;
            }
        }
        Command::Documents(output) => {
            let docs = ks.documents()?;
            if output.json {
                for d in &docs {
                    output::write_json(out, d)?;
                }
            } else {
                let mut t = Table::new(&[
                    "doc", "name", "level", "owner", "grants", "expires", "status", "path",
                ]);
                for d in docs {
                    // Names and paths come from the users who registered the documents:
                    // a newline in one must not forge a row.
                    t.row(vec![
                        d.id,
                        escaped(&d.name),
                        d.level,
                        d.owner,
                        d.grants
                            .iter()
                            .map(|g| format!("{}={}", g.principal, g.rights))
                            .collect::<Vec<_>>()
                            .join(" "),
                        d.expires_at.map(timestamp).unwrap_or_default(),
                        if d.revoked { "revoked" } else { "" }.into(),
                        format!("{}:{}", escaped(&d.host), escaped(&d.path)),
                    ]);
                }
                t.print(out)?;
            }
        }
        Command::Audit(a) => {
            if a.verify {
                let held = keyservice::held_checkpoints(&a.checkpoint)?;
                let v = ks.audit_verify_against(held)?;
                if a.output.json {
                    output::write_json(out, &v)?;
                } else if v.ok {
                    let against = v
                        .checkpoint
                        .map(|seq| {
                            format!(", not shorter than the signed checkpoint of record {seq}")
                        })
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "audit log intact: {} records, hash chain verified{against}",
                        v.records
                    )?;
                } else {
                    writeln!(
                        out,
                        "AUDIT LOG TAMPERED: {}",
                        v.problem.as_deref().unwrap_or("unknown problem")
                    )?;
                }
                return Ok(if v.ok {
                    ExitCode::SUCCESS
                } else {
                    exit_findings()
                });
            }
            let records = ks.audit(Query {
                doc: a.doc.map(|d| d.to_string()),
                user: a.user,
                since: None,
                until: None,
                limit: Some(a.limit),
                ..Query::default()
            })?;
            if a.output.json {
                for r in &records {
                    output::write_json(out, r)?;
                }
            } else {
                let mut t = Table::new(&[
                    "seq", "time", "actor", "action", "outcome", "doc", "subject", "reason",
                ]);
                for r in records {
                    let e = r.event;
                    t.row(vec![
                        r.seq.to_string(),
                        timestamp(r.at_ms / 1000),
                        e.actor,
                        e.action,
                        e.outcome.as_str().into(),
                        e.doc.unwrap_or_default(),
                        escaped(e.subject.unwrap_or_default()),
                        escaped(e.reason.unwrap_or_default()),
                    ]);
                }
                t.print(out)?;
            }
        }
        Command::Policy(command) => policy(ks, command, out)?,
        Command::Console(a) => console(ks, a, out)?,
        Command::RotateKey(output) => {
            let info = ks.rotate_key()?;
            if output.json {
                output::write_json(out, &info)?;
            } else {
                writeln!(
                    out,
                    "wrapping key version {} is now current ({}); older versions keep opening existing files",
                    info.key_version, info.recipient
                )?;
            }
        }
        Command::Recovery(c) => super::recovery::admin(ks, c, out)?,
        Command::Doc(c) => return super::admin_doc::execute(ks, c, out),
        Command::Ledger(_) => unreachable!("run() handles the ledger before connecting"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `fuda admin console`.
#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// Print the link instead of opening a browser (e.g. on a server without one: open
    /// it on your own PC within 5 minutes; it works once).
    #[arg(long)]
    no_browser: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `fuda admin console`: a one-time log-in link, opened in the browser or printed.
fn console(
    ks: &dyn fuda_keyd::client::KeyService,
    args: ConsoleArgs,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let link = ks.console_link()?;
    if args.output.json {
        let record = ConsoleLinkRecord {
            url: &link.url,
            user: &link.user,
            expires_at: timestamp(link.expires_at),
        };
        output::write_json(out, &record)?;
        return Ok(());
    }
    let opened = !args.no_browser && open_in_browser(&link.url);
    if opened {
        writeln!(
            out,
            "opened the console in your browser as {}; if it did not appear, open this link (it works once, until {}):",
            link.user,
            timestamp(link.expires_at)
        )?;
    } else {
        writeln!(
            out,
            "open this link in your browser to sign in as {} (it works once, until {}):",
            link.user,
            timestamp(link.expires_at)
        )?;
    }
    writeln!(out, "{}", link.url)?;
    Ok(())
}

/// Asks the desktop to open `url` in the default browser; whether it could.
fn open_in_browser(url: &str) -> bool {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `fuda admin policy …`.
fn policy(
    ks: &dyn fuda_keyd::client::KeyService,
    command: PolicyCommand,
    out: &mut impl std::io::Write,
) -> Result<()> {
    match command {
        PolicyCommand::Set { file, output } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the policy {}", escaped(&file)))?;
            let set = ks.policy_set(&text, &file.to_string_lossy())?;
            // This machine uses the new version at once; others within the cache time.
            crate::orgpolicy::forget()?;
            if output.json {
                output::write_json(out, &set)?;
            } else if set.previous == Some(set.version) {
                writeln!(
                    out,
                    "{} is the same as policy version {}: nothing changed",
                    escaped(&file),
                    set.version
                )?;
            } else {
                write!(out, "{}", set.diff)?;
                writeln!(
                    out,
                    "policy version {} is in force; clients use it within 10 minutes. Documents already protected keep their caps until `fuda admin policy apply`.",
                    set.version
                )?;
            }
        }
        PolicyCommand::Show { version, output } => {
            let SignedPolicy { policy: p, .. } = ks.policy_version(version)?;
            if output.json {
                let shown = PolicyVersionShown {
                    version: p.version,
                    origin: &p.origin,
                    set_by: &p.set_by,
                    set_at: p.set_at,
                    text: &p.text,
                };
                output::write_json(out, &shown)?;
            } else {
                writeln!(
                    out,
                    "# policy version {}, from {}, set by {} at {}",
                    p.version,
                    p.origin,
                    p.set_by,
                    timestamp(p.set_at)
                )?;
                write!(out, "{}", p.text)?;
            }
        }
        PolicyCommand::Apply(output) => {
            let applied = ks.policy_apply()?;
            if output.json {
                output::write_json(out, &applied)?;
            } else {
                for t in &applied.tightened {
                    writeln!(out, "{} ({}): {}", t.doc, t.level, t.changes.join("; "))?;
                }
                for doc in &applied.unknown_level {
                    writeln!(
                        out,
                        "{doc}: its level is not in policy version {}; left as it is",
                        applied.version
                    )?;
                }
                writeln!(
                    out,
                    "policy version {} applied to {} documents: {} tightened",
                    applied.version,
                    applied.documents,
                    applied.tightened.len()
                )?;
            }
        }
    }
    Ok(())
}

fn target(a: RevokeArgs) -> Result<RevokeTarget> {
    if a.doc.is_none() && a.user.is_none() {
        bail!("name --doc ID, --user NAME, or both");
    }
    Ok(RevokeTarget {
        doc: a.doc.map(|d| d.to_string()),
        user: a.user,
    })
}

fn describe(t: &RevokeTarget) -> String {
    match (&t.doc, &t.user) {
        (Some(d), Some(u)) => format!("{u} on document {d}"),
        (Some(d), None) => format!("document {d} for everyone"),
        (None, Some(u)) => format!("{u} on every document"),
        (None, None) => String::new(),
    }
}
