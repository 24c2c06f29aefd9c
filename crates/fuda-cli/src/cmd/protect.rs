//! `fuda protect | open | export | share | unshare | rights`: protected files and their
//! rights, through the key service (remote, or embedded when none is configured).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use fuda_core::digest::Digest;
use fuda_core::envelope::{self, LabelStanza, StreamOptions};
use fuda_core::label::{DocId, Evidence, Label, Method, PolicyRef, LABEL_VERSION};
use fuda_core::policy::{Level, Protect};
use fuda_core::rights::{Right, Rights};
use fuda_keyd::registry::{Grant, Principal, Registration};

use super::exit_error;
use crate::config::Session;
use crate::keyservice::{self, Connection};
use crate::output::{timestamp, Table};

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
    #[arg(long = "grant", value_name = "PRINCIPAL=RIGHTS")]
    grants: Vec<String>,
    /// Last day the document may be opened (YYYY-MM-DD, UTC) [default: the level's expires_days].
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,
    /// Keep the original file.
    #[arg(long)]
    keep: bool,
    /// Print one JSON object per file.
    #[arg(long)]
    json: bool,
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
    #[arg(long = "grant", value_name = "PRINCIPAL=RIGHTS", required = true)]
    grants: Vec<String>,
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
}

/// Show who may do what with a protected file (from the key service).
#[derive(clap::Args)]
pub struct RightsArgs {
    /// The protected file.
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_grant(s: &str) -> Result<Grant> {
    Ok(s.parse::<Grant>()?)
}

/// The level's default grants, with `group:$dept` bound to the user's department.
fn default_grants(level: &Level, dept: Option<&str>) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    for (principal, rights) in &level.grants {
        let principal = if principal.contains("$dept") {
            match dept {
                Some(d) => principal.replace("$dept", d),
                None => continue,
            }
        } else {
            principal.clone()
        };
        out.push(Grant {
            principal: principal.parse()?,
            rights: *rights,
        });
    }
    Ok(out)
}

fn parse_date_end(s: &str) -> Result<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &format)
        .map_err(|_| anyhow!("--expires {s:?}: write the date as YYYY-MM-DD"))?;
    Ok(date.midnight().assume_utc().unix_timestamp() + 86_400)
}

/// The `fuda/label` stanza body: the signed compact label and the rights snapshot.
fn stanza_body(compact: &[u8], grants: &[Grant], service: &str) -> Vec<u8> {
    let rights: BTreeMap<String, String> = grants
        .iter()
        .map(|g| (g.principal.to_string(), g.rights.to_string()))
        .collect();
    fuda_core::store::envelope::encode_body(compact, &rights, service)
}

pub fn protect(args: ProtectArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let extra: Vec<Grant> = args
        .grants
        .iter()
        .map(|g| parse_grant(g))
        .collect::<Result<_>>()?;
    let protector = Protector::connect(&session)?;
    let mut failed = 0;
    for path in &args.paths {
        match protect_one(&protector, &extra, &args, path) {
            Ok(out) => {
                if args.json {
                    println!("{out}");
                } else {
                    println!(
                        "{} → {}  [{}, doc {}]",
                        fuda_core::pathname::escaped(path),
                        fuda_core::pathname::decode_json_path(&out["protected"])
                            .map(|b| fuda_core::pathname::escaped(std::ffi::OsStr::from_bytes(&b)))
                            .unwrap_or_default(),
                        out["level_name"].as_str().unwrap_or_default(),
                        out["doc"].as_str().unwrap_or_default()
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("fuda: {}: {e:#}", path.display());
            }
        }
    }
    Ok(if failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}

fn protect_one(
    protector: &Protector<'_>,
    extra: &[Grant],
    args: &ProtectArgs,
    path: &Path,
) -> Result<serde_json::Value> {
    let session = protector.session;
    let policy = &session.policy;
    let labeler = fuda_core::labeling::Labeler {
        policy,
        identity: &session.identity,
        trust: &session.trust,
        dept: session.config.dept.clone(),
        preference: session.config.store_preference()?,
        memo: None,
        digests: None,
    };
    let current = labeler.inspect(path).ok().and_then(|f| f.label);
    let level = match (&args.level, &current, &policy.default_level) {
        (Some(name), _, _) => policy.level_by_name(name).ok_or_else(|| {
            anyhow!(
                "unknown level {name:?}: the policy {policy} defines {}",
                policy.level_names()
            )
        })?,
        (None, Some(label), _) => policy.level(&label.level).ok_or_else(|| {
            anyhow!(
                "its label's level {:?} is not in the policy {policy}",
                label.level
            )
        })?,
        (None, None, Some(default)) => policy
            .level(default)
            .ok_or_else(|| anyhow!("the policy's default level {default:?} is unknown"))?,
        (None, None, None) => bail!("no --level given and the file has no label: pass --level"),
    };
    let done = protector.protect(
        path,
        &Protection {
            level,
            extra,
            expires: args.expires.as_deref(),
            keep: args.keep,
            current: current.as_ref(),
            method: Method::Manual,
            rule: None,
            evidence: Vec::new(),
        },
    )?;
    Ok(serde_json::json!({
        "path": fuda_core::pathname::JsonPath::new(&path), "protected": fuda_core::pathname::JsonPath::new(&done.path), "doc": done.doc.to_string(), "level": level.id,
        "level_name": level.name_ja, "grants": done.grants, "expires_at": done.expires_at,
        "kept_original": args.keep,
    }))
}

/// Protecting files through the key service: connected once, used for every file.
pub struct Protector<'a> {
    session: &'a Session,
    conn: Connection,
    service_id: String,
    /// The key service's recipient, then the policy's recovery recipients.
    recipients: Vec<envelope::x25519::Recipient>,
}

/// How to protect one file.
pub struct Protection<'a> {
    /// The level the protected file carries.
    pub level: &'a Level,
    /// Grants on top of the level's default grants.
    pub extra: &'a [Grant],
    /// Last day the document may be opened (YYYY-MM-DD), within the level's expiry.
    pub expires: Option<&'a str>,
    /// Keep the original file.
    pub keep: bool,
    /// The label the file carries now: its asset, origin and flags are kept.
    pub current: Option<&'a Label>,
    /// How the level was chosen (manual for `fuda protect`, auto for `fuda scan --protect`).
    pub method: Method,
    /// The rule that chose an automatic level.
    pub rule: Option<String>,
    /// Why an automatic level was chosen.
    pub evidence: Vec<Evidence>,
}

/// A file protected by [`Protector::protect`].
pub struct Protected {
    /// The protected file (`NAME.fuda`).
    pub path: PathBuf,
    /// Its document id in the key service's registry.
    pub doc: DocId,
    /// Who may do what.
    pub grants: Vec<Grant>,
    /// When it expires.
    pub expires_at: Option<i64>,
}

impl<'a> Protector<'a> {
    /// Connects to the session's key service (remote, else embedded).
    pub fn connect(session: &'a Session) -> Result<Protector<'a>> {
        let policy = &session.policy;
        let conn = keyservice::connect(session)?;
        let info = conn.client.info()?;
        let mut recipients = vec![info
            .recipient
            .parse::<envelope::x25519::Recipient>()
            .map_err(|_| anyhow!("the key service's recipient is not an age recipient"))?];
        for r in &policy.recovery_recipients {
            recipients.push(r.parse().map_err(|_| {
                anyhow!("policy {policy}: recovery recipient {r:?} is not an age X25519 recipient")
            })?);
        }
        Ok(Protector {
            session,
            conn,
            service_id: info.id,
            recipients,
        })
    }

    /// Encrypts `path` into `NAME.fuda`, registers it with the key service, opens the
    /// protected copy through the service and compares it with the original, and only then
    /// removes the original (unless `keep`). On any failure the original is untouched and
    /// no protected copy is left behind.
    pub fn protect(&self, path: &Path, p: &Protection<'_>) -> Result<Protected> {
        let (session, conn) = (self.session, &self.conn);
        let policy = &session.policy;
        let level = p.level;
        let meta = fuda_core::longpath::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!("not a regular file");
        }
        if path.extension().is_some_and(|e| e == envelope::EXTENSION) {
            bail!("already protected (ends in .fuda)");
        }
        if level.protect == Protect::Never {
            bail!(
                "level {} ({}) is never protected under the policy {policy}: choose a higher level",
                level.name_ja,
                level.id
            );
        }
        let mut grants = default_grants(level, session.config.dept.as_deref())?;
        for g in p.extra {
            if g.principal != Principal::Owner && !level.max_rights.covers(g.rights) {
                bail!(
                    "level {} allows at most {} for people outside its default grants; {}={} is more",
                    level.name_ja,
                    level.max_rights,
                    g.principal,
                    g.rights
                );
            }
            grants.retain(|d| d.principal != g.principal);
            grants.push(g.clone());
        }
        if !grants.iter().any(|g| g.principal == Principal::Owner) {
            grants.push(Grant {
                principal: Principal::Owner,
                rights: Rights::NONE.with(Right::Owner),
            });
        }
        let now = fuda_keyd::now();
        let policy_expiry =
            (level.expires_days > 0).then(|| now + i64::from(level.expires_days) * 86_400);
        let expires_at = match (p.expires, policy_expiry) {
            (Some(d), Some(max)) => {
                let e = parse_date_end(d)?;
                if e > max {
                    bail!(
                        "level {} expires after {} days; --expires {d} is later",
                        level.name_ja,
                        level.expires_days
                    );
                }
                Some(e)
            }
            (Some(d), None) => Some(parse_date_end(d)?),
            (None, max) => max,
        };

        let digest =
            Digest::of_file(path).with_context(|| format!("cannot read {}", path.display()))?;
        let doc = DocId::new();
        let me = session.config.user.clone();
        let current = p.current;
        let label = Label {
            v: LABEL_VERSION,
            doc,
            level: level.id.clone(),
            policy: PolicyRef {
                id: policy.id.clone(),
                version: policy.version,
            },
            owner: me.clone(),
            dept: session.config.dept.clone(),
            asset: current.and_then(|l| l.asset.clone()).or_else(|| {
                policy
                    .asset_for(path, Some(&level.id))
                    .map(|a| a.id.clone())
            }),
            method: p.method,
            rule: p.rule.clone(),
            origin: current.and_then(|l| l.origin.clone()),
            set_by: me.clone(),
            set_at: now,
            seq: 0,
            content_sha256: Some(digest),
            justification: None,
            flags: current.map(|l| l.flags.clone()).unwrap_or_default(),
            evidence: p.evidence.clone(),
        };
        let signed = session.identity.sign(label);
        let compact = fuda_core::label::compact::encode(&signed);
        let stanza = LabelStanza::new(doc, stanza_body(&compact, &grants, &self.service_id));
        let dst = envelope::protected_path(path);
        // Until it is registered and verified, the protected copy goes on any failure or on
        // SIGTERM/SIGINT/SIGHUP; the original stays until then.
        let placed = fuda_core::fsutil::Provisional::new(&dst);
        let header = envelope::encrypt_to_path(
            path,
            &self.recipients,
            Some(&stanza),
            &dst,
            false,
            &StreamOptions::default(),
        )?;
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let registered = conn.client.register(Registration {
            header: header.to_bytes(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            level: level.id.clone(),
            grants: grants.clone(),
            max_rights: level.max_rights,
            expires_at,
            offline_days: level.offline_days,
            size: meta.len(),
            digest: digest.to_string(),
            host: crate::keyservice::hostname(),
            path: absolute.to_string_lossy().into_owned(),
        });
        if let Err(e) = registered {
            return Err(anyhow::Error::new(e)
                .context("the key service refused to register it; nothing changed"));
        }
        // Verify: the owner opens the protected copy through the service and compares.
        let verified = keyservice::open(conn, session, &dst, Rights::NONE.with(Right::View))
            .and_then(|(key, decryptor, _)| {
                let reader = decryptor.into_reader(&key, &StreamOptions::default())?;
                Ok(Digest::of_reader(reader)?)
            });
        match verified {
            Ok(d) if d == digest => {}
            Ok(_) => {
                bail!("the file changed while it was being protected; the original is kept, try again");
            }
            Err(e) => {
                return Err(e.context("the protected copy did not open; the original is kept"));
            }
        }
        placed.keep();
        if !p.keep {
            fuda_core::longpath::remove_file(path).with_context(|| {
                format!(
                    "protected as {}, but cannot remove the original",
                    dst.display()
                )
            })?;
        }
        Ok(Protected {
            path: dst,
            doc,
            grants,
            expires_at,
        })
    }
}

pub fn open(args: OpenArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let (key, decryptor, _) =
        keyservice::open(&conn, &session, &args.file, Rights::NONE.with(Right::View))?;
    write_plaintext(decryptor, &key, args.out.as_deref(), &args.file)
}

pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let rights = Rights::NONE.with(Right::View).with(Right::Export);
    let (key, decryptor, _) = keyservice::open(&conn, &session, &args.file, rights)?;
    write_plaintext(decryptor, &key, Some(&args.out), &args.file)
}

fn write_plaintext(
    decryptor: envelope::Decryptor<std::fs::File>,
    key: &envelope::FileKey,
    out: Option<&Path>,
    src: &Path,
) -> Result<ExitCode> {
    let opts = StreamOptions::default();
    match out {
        Some(out) => {
            envelope::write_atomically(out, false, |w| decryptor.decrypt_with_key(key, w, &opts))
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("{} → {}", src.display(), out.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            decryptor
                .decrypt_with_key(key, &mut lock, &opts)
                .with_context(|| format!("cannot decrypt {}", src.display()))?;
            lock.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn doc_of(file: &Path) -> Result<String> {
    let summary = envelope::inspect(file)
        .with_context(|| format!("{} is not a protected file", file.display()))?;
    summary
        .label
        .map(|l| l.doc_id)
        .ok_or_else(|| anyhow!("{} has no fuda label", file.display()))
}

pub fn share(args: ShareArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let doc = doc_of(&args.file)?;
    for g in &args.grants {
        let grant = parse_grant(g)?;
        conn.client
            .grant(&doc, grant.clone())
            .with_context(|| format!("cannot share {}", args.file.display()))?;
        println!(
            "{}: {} may now {}",
            args.file.display(),
            grant.principal,
            grant.rights
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn unshare(args: UnshareArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let doc = doc_of(&args.file)?;
    let principal = match (&args.user, &args.group) {
        (Some(u), None) => Principal::User(u.clone()),
        (None, Some(g)) => Principal::Group(g.clone()),
        _ => bail!("name --user NAME or --group NAME"),
    };
    conn.client
        .ungrant(&doc, &principal)
        .with_context(|| format!("cannot unshare {}", args.file.display()))?;
    println!(
        "{}: {principal} has no grant any more (effective at their next request)",
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn rights(args: RightsArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let doc = doc_of(&args.file)?;
    let r = conn.client.document(&doc)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let d = &r.document;
    let level = session
        .policy
        .level(&d.level)
        .map(|l| l.name_ja.clone())
        .unwrap_or_else(|| d.level.clone());
    println!(
        "{}  doc {}  level {level}  owner {}",
        args.file.display(),
        d.id,
        d.owner
    );
    if let Some(e) = d.expires_at {
        println!("expires {}", timestamp(e));
    }
    if d.revoked {
        println!("REVOKED for everyone");
    }
    println!(
        "your rights: {}",
        if r.rights.is_empty() {
            "none".into()
        } else {
            r.rights.to_string()
        }
    );
    let mut t = Table::new(&["principal", "rights"]);
    for g in &d.grants {
        t.row(vec![g.principal.to_string(), g.rights.to_string()]);
    }
    t.print(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
