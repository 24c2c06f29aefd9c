//! `fuda admin`: users, groups, revocations, documents, audit and key rotation on the key
//! service (the remote one, or your embedded one, of which you are the admin).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::label::DocId;
use fuda_keyd::audit::Query;
use fuda_keyd::directory::{NewUser, UserStatus};
use fuda_keyd::service::RevokeTarget;

use super::exit_findings;
use crate::config::Session;
use crate::keyservice;
use crate::output::{timestamp, Table};

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
    Documents(JsonArg),
    /// Show the audit log, or verify its hash chain (--verify: exit 1 if it was tampered with).
    Audit(AuditArgs),
    /// Add a new wrapping key version: new files use it, old files keep opening.
    RotateKey(JsonArg),
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
        #[arg(long)]
        admin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: every request of theirs is refused from now on.
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
    },
    /// A new one-time enrollment code for a user (new machine, lost token). Redeeming it
    /// ends the user's older tokens.
    Code {
        /// Login name.
        name: String,
    },
    /// End every API token of a user now (lost laptop, leaked token): their next request
    /// is refused until they enroll again with a new code.
    RevokeTokens {
        /// Login name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List(JsonArg),
}

#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add {
        /// Group name.
        name: String,
    },
    /// Add a user to a group.
    AddMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
    /// Remove a user from a group.
    RemoveMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
    /// List groups and members.
    List(JsonArg),
}

#[derive(clap::Args)]
pub struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// The document id.
    #[arg(long)]
    doc: Option<DocId>,
    /// The user.
    #[arg(long)]
    user: Option<String>,
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
    /// Verify the whole chain instead of listing.
    #[arg(long)]
    verify: bool,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

pub fn run(command: Command) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let ks = &*conn.client;
    let mut out = std::io::stdout().lock();
    match command {
        Command::User(UserCommand::Add {
            name,
            dept,
            display_name,
            admin,
            json,
        }) => {
            let added = ks.user_add(NewUser {
                name,
                display_name,
                dept,
                admin,
            })?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&added)?)?;
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
            }
        }
        Command::User(UserCommand::Disable { name }) => {
            ks.user_status(&name, UserStatus::Disabled)?;
            writeln!(
                out,
                "{name} is disabled: every request of theirs is refused from now on"
            )?;
        }
        Command::User(UserCommand::Enable { name }) => {
            ks.user_status(&name, UserStatus::Active)?;
            writeln!(
                out,
                "{name} is enabled; disabling ended their API tokens, so they enroll again with a new code (`fuda admin user code {name}`)"
            )?;
        }
        Command::User(UserCommand::RevokeTokens { name, json }) => {
            let revoked = ks.revoke_tokens(&name)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"user": name, "revoked": revoked})
                )?;
            } else {
                writeln!(
                    out,
                    "Ended {revoked} API token(s) of {name}: they enroll again with a new code (`fuda admin user code {name}`)"
                )?;
            }
        }
        Command::User(UserCommand::Code { name }) => {
            let added = ks.user_code(&name)?;
            writeln!(
                out,
                "One-time enrollment code for {name} (valid 7 days): {}",
                added.code
            )?;
        }
        Command::User(UserCommand::List(a)) => {
            let users = ks.user_list()?;
            if a.json {
                for u in &users {
                    writeln!(out, "{}", serde_json::to_string(u)?)?;
                }
            } else {
                let mut t = Table::new(&[
                    "user",
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
                        u.display_name,
                        u.dept.unwrap_or_default(),
                        u.groups.join(","),
                        u.status.as_str().into(),
                        if u.admin { "yes" } else { "" }.into(),
                        if u.recipient.is_some() { "yes" } else { "no" }.into(),
                    ]);
                }
                t.print(&mut out)?;
            }
        }
        Command::Group(GroupCommand::Add { name }) => {
            ks.group_add(&name)?;
            writeln!(out, "group {name} created")?;
        }
        Command::Group(GroupCommand::AddMember { group, user }) => {
            ks.group_member(&group, &user, true)?;
            writeln!(out, "{user} is in {group}")?;
        }
        Command::Group(GroupCommand::RemoveMember { group, user }) => {
            ks.group_member(&group, &user, false)?;
            writeln!(out, "{user} is no longer in {group}")?;
        }
        Command::Group(GroupCommand::List(a)) => {
            let groups = ks.group_list()?;
            if a.json {
                for g in &groups {
                    writeln!(out, "{}", serde_json::to_string(g)?)?;
                }
            } else {
                let mut t = Table::new(&["group", "members"]);
                for g in groups {
                    t.row(vec![g.name, g.members.join(", ")]);
                }
                t.print(&mut out)?;
            }
        }
        Command::Revoke(a) => {
            let target = target(a)?;
            let what = describe(&target);
            ks.revoke(target)?;
            writeln!(out, "revoked {what}: effective at the next request")?;
        }
        Command::Unrevoke(a) => {
            let target = target(a)?;
            let what = describe(&target);
            ks.unrevoke(target)?;
            writeln!(out, "lifted the revocation of {what}")?;
        }
        Command::Documents(a) => {
            let docs = ks.documents()?;
            if a.json {
                for d in &docs {
                    writeln!(out, "{}", serde_json::to_string(d)?)?;
                }
            } else {
                let mut t = Table::new(&[
                    "doc", "name", "level", "owner", "grants", "expires", "status", "path",
                ]);
                for d in docs {
                    t.row(vec![
                        d.id,
                        d.name,
                        d.level,
                        d.owner,
                        d.grants
                            .iter()
                            .map(|g| format!("{}={}", g.principal, g.rights))
                            .collect::<Vec<_>>()
                            .join(" "),
                        d.expires_at.map(timestamp).unwrap_or_default(),
                        if d.revoked { "revoked" } else { "" }.into(),
                        format!("{}:{}", d.host, d.path),
                    ]);
                }
                t.print(&mut out)?;
            }
        }
        Command::Audit(a) => {
            if a.verify {
                let v = ks.audit_verify()?;
                if a.json {
                    writeln!(out, "{}", serde_json::to_string(&v)?)?;
                } else if v.ok {
                    writeln!(
                        out,
                        "audit log intact: {} records, hash chain verified",
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
            })?;
            if a.json {
                for r in &records {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
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
                        e.subject.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                    ]);
                }
                t.print(&mut out)?;
            }
        }
        Command::RotateKey(a) => {
            let info = ks.rotate_key()?;
            if a.json {
                writeln!(out, "{}", serde_json::to_string(&info)?)?;
            } else {
                writeln!(
                    out,
                    "wrapping key version {} is now current ({}); older versions keep opening existing files",
                    info.key_version, info.recipient
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
