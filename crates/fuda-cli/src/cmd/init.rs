//! `fuda init`: create the user's identity and config.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fuda_core::identity::Identity;
use fuda_core::pathname::JsonPath;
use fuda_core::trust::{encode_public_key, SignerKind, TrustStore};
use serde::Serialize;

use crate::args::{OutputArgs, Store};
use crate::config::{self, Config};
use crate::output::{self, Record};

/// Create your identity and config, and enroll with a key service.
///
/// Generates an age X25519 identity (to receive file keys) and an Ed25519 key (to sign
/// labels), stored with mode 0600 in ~/.config/fuda (or $FUDA_CONFIG_DIR). Never overwrites
/// existing keys. Your own key is added to the local trust store; share the printed public
/// key with colleagues so they can `fuda trust add` it.
///
/// With --service URL --enroll CODE --ca-fingerprint F, your public keys are registered with
/// your organisation's key service (fuda-keyd) using the one-time code an admin gave you;
/// its API token is kept in ~/.config/fuda/keyd.token (0600). Run it again with --service
/// to enroll an existing identity. Without a service, `fuda protect` uses an embedded key
/// service in ~/.local/share/fuda/keyd, of which you are the admin.
#[derive(clap::Args)]
pub struct Args {
    /// Your user name, recorded in labels [default: $USER, else this account's name].
    #[arg(long)]
    name: Option<String>,
    /// Your department (e.g. 設計部), recorded in new labels.
    #[arg(long)]
    dept: Option<String>,
    /// Policy: a built-in name (default, ipa-sme) or a policy file.
    #[arg(long, default_value = "default")]
    policy: String,
    /// Where labels of non-Office files go.
    #[arg(long, value_enum, default_value_t = Store::Xattr)]
    store: Store,
    /// The key service to enroll with (https://HOST:PORT).
    #[arg(long, requires = "enroll")]
    service: Option<String>,
    /// The one-time enrollment code from your admin. Without --service: enroll with the
    /// embedded key service of this account ($XDG_DATA_HOME/fuda/keyd), as a colleague
    /// sharing this machine (and the demo) does.
    #[arg(long)]
    enroll: Option<String>,
    /// The SHA-256 fingerprint of the key service's TLS certificate (from the admin, as
    /// printed by `fuda-keyd init`); the connection is refused unless it matches.
    #[arg(long, requires = "service")]
    ca_fingerprint: Option<String>,
    /// Enroll this machine's reporting identity NAME instead of a person: a directory
    /// entry of kind machine (or the hook that labels this machine's shares) that an admin
    /// added with `fuda admin user add NAME --kind machine`. `fuda inventory --report` and
    /// `fuda watch --report` then send this machine's files to the company file index.
    #[arg(long, requires = "enroll", value_name = "NAME")]
    machine: Option<String>,
    /// With --machine: how often this machine will report (e.g. 24h, 7d); the service
    /// flags it as stale after that [default: 24h].
    #[arg(long, requires = "machine", value_parser = crate::report::parse_interval, value_name = "INTERVAL")]
    report_interval: Option<u32>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `init --json`: the identity just created.
#[derive(Serialize)]
struct Created<'a> {
    user: &'a str,
    config_dir: JsonPath<'a>,
    /// The policy in force (`id@version`).
    policy: String,
    /// The age recipient that file keys are sealed to.
    recipient: String,
    /// The Ed25519 public key that signs labels (base64).
    signing_key: &'a str,
    key_id: String,
}

impl Record for Created<'_> {
    const TYPE: &'static str = "identity";
}

/// `init --service … --json`: this identity enrolled with a key service.
#[derive(Serialize)]
struct Enrolled<'a> {
    user: &'a str,
    dept: Option<&'a str>,
    /// The key service's URL.
    service: &'a str,
    service_id: &'a str,
    admin: bool,
}

impl Record for Enrolled<'_> {
    const TYPE: &'static str = "enrollment";
}

/// Enrolls `identity` with the service and records it in `config` (saved by the caller).
fn enroll(
    config: &mut Config,
    identity: &Identity,
    url: &str,
    code: &str,
    fingerprint: Option<&str>,
    machine: Option<&str>,
) -> Result<fuda_keyd::directory::Enrolled> {
    let Some(fingerprint) = fingerprint else {
        bail!(
            "--ca-fingerprint is needed with --service: ask your admin for the fingerprint that \
             `fuda-keyd init` (or `fuda-keyd fingerprint`) printed, so fuda can tell the real key \
             service from an impostor"
        );
    };
    let remote = fuda_keyd::client::Remote::new(url, fingerprint, None)?;
    let enrolled = remote
        .enroll(&fuda_keyd::directory::Enrollment {
            code: code.to_owned(),
            recipient: identity.recipient().to_string(),
            signing_key: encode_public_key(identity.public_key()),
        })
        .with_context(|| format!("cannot enroll with the key service at {url}"))?;
    if let Some(machine) = machine {
        crate::report::check_machine(&enrolled.user, machine)?;
    }
    let token = config::token_path()?;
    fuda_core::fsutil::write_atomic(&token, enrolled.token.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", fuda_core::pathname::escaped(&token)))?;
    config.user = enrolled.user.name.clone();
    // The directory is the authority on people: its department signs the labels.
    match (&enrolled.user.dept, &config.dept) {
        (Some(directory), Some(asked)) if directory != asked => eprintln!(
            "fuda: note: the key service's directory has {} in {directory}, not {asked}: labels and default grants use {directory} (an administrator changes it in the directory)",
            enrolled.user.name
        ),
        (None, Some(asked)) => eprintln!(
            "fuda: note: the key service's directory has no department for {}; {asked} is used on this machine until an administrator sets one",
            enrolled.user.name
        ),
        _ => {}
    }
    if enrolled.user.dept.is_some() {
        config.dept = enrolled.user.dept.clone();
    }
    config.service = Some(config::ServiceConfig {
        url: url.trim_end_matches('/').to_owned(),
        replicas: config
            .service
            .as_ref()
            .map(|s| s.replicas.clone())
            .unwrap_or_default(),
        fingerprint: fingerprint.to_owned(),
        id: enrolled.service.id.clone(),
        signing_key: enrolled.service.signing_key.clone(),
    });
    Ok(enrolled)
}

/// Enrolls `identity` with the embedded key service of this account (another person's
/// identity on a shared machine: the admin of that service gave the code) and records the
/// directory's name and department in `config`.
fn enroll_embedded(
    config: &mut Config,
    identity: &Identity,
    code: &str,
) -> Result<fuda_keyd::directory::Enrolled> {
    let dir = crate::keyservice::embedded_dir()?;
    if !dir.join(fuda_keyd::service::DB_FILE).exists() {
        bail!(
            "--enroll without --service enrolls with the key service on this machine, and there \
             is none in {} yet: pass --service URL --ca-fingerprint F for your organisation's, or \
             ask the person whose `fuda protect` made it",
            fuda_core::pathname::escaped(&dir)
        );
    }
    let service = fuda_keyd::service::Service::open(&dir)?;
    let enrolled = service.enroll(fuda_keyd::directory::Enrollment {
        code: code.to_owned(),
        recipient: identity.recipient().to_string(),
        signing_key: encode_public_key(identity.public_key()),
    });
    service.close();
    let enrolled = enrolled.context("cannot enroll with the key service on this machine")?;
    config.user = enrolled.user.name.clone();
    if enrolled.user.dept.is_some() {
        config.dept = enrolled.user.dept.clone();
    }
    Ok(enrolled)
}

/// With --machine: records the reporting identity in machine.toml.
fn save_machine(args: &Args) -> Result<()> {
    match &args.machine {
        Some(name) => crate::report::MachineConfig {
            name: name.clone(),
            interval_s: args
                .report_interval
                .unwrap_or(fuda_keyd::report::DEFAULT_INTERVAL_S),
        }
        .save(),
        None => Ok(()),
    }
}

fn print_enrolled(e: &fuda_keyd::directory::Enrolled, url: &str, json: bool) -> Result<()> {
    let mut out = output::stdout();
    if json {
        let enrolled = Enrolled {
            user: &e.user.name,
            dept: e.user.dept.as_deref(),
            service: url,
            service_id: &e.service.id,
            admin: e.user.admin,
        };
        output::write_json(&mut out, &enrolled)?;
    } else {
        writeln!(
            out,
            "Enrolled as {} ({}) with the key service {url}",
            e.user.name,
            e.user.dept.as_deref().unwrap_or("no department")
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The name of the account running fuda: `$USER`, else the system user database's entry
/// for the real user id (services, containers and `sudo -i` shells often have no `$USER`).
fn account_name() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
}

/// `fuda init` where fuda is already set up: asking again for what is already there is
/// fine (exit 0, nothing written); asking for something else is refused, because fuda
/// never overwrites keys.
fn already_set_up(args: &Args, dir: &std::path::Path) -> Result<ExitCode> {
    let config = Config::load()?;
    let policy_now = config::load_policy(&config.policy)?;
    let mut differs = Vec::new();
    if let Some(name) = args.name.as_deref().map(str::trim) {
        if name != config.user {
            differs.push(format!("the user is {}, not {name}", config.user));
        }
    }
    if let Some(dept) = args.dept.as_deref() {
        if Some(dept) != config.dept.as_deref() {
            let now = config.dept.as_deref().unwrap_or("not set");
            differs.push(format!("the department is {now}, not {dept}"));
        }
    }
    let asked_policy = match fuda_core::policy::BUILTIN
        .iter()
        .find(|(n, _)| *n == args.policy)
    {
        Some((n, _)) => format!("builtin:{n}"),
        None => std::fs::canonicalize(&args.policy)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| args.policy.clone()),
    };
    if asked_policy != config.policy {
        differs.push(format!(
            "the policy is {} ({}), not {}",
            policy_now, config.policy, args.policy
        ));
    }
    if args.store.as_str() != config.store {
        differs.push(format!(
            "labels go to the {} store, not {}",
            config.store,
            args.store.as_str()
        ));
    }
    if !differs.is_empty() {
        bail!(
            "fuda is already set up here ({}) and {}: fuda never overwrites keys; change \
             config.toml there, or move the folder away first if you really want a new identity",
            fuda_core::pathname::escaped(dir),
            differs.join(", ")
        );
    }
    let mut out = output::stdout();
    if args.output.json {
        let identity = Identity::load(dir, &config.user)?;
        let public_key = encode_public_key(identity.public_key());
        let created = Created {
            user: &config.user,
            config_dir: JsonPath::new(dir),
            policy: policy_now.to_string(),
            recipient: identity.recipient().to_string(),
            signing_key: &public_key,
            key_id: identity.key_id().to_string(),
        };
        output::write_json(&mut out, &created)?;
    } else {
        writeln!(
            out,
            "fuda is already set up here for {} ({}), with the policy {}: nothing to do",
            config.user,
            fuda_core::pathname::escaped(dir),
            policy_now
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = config::config_dir()?;
    if dir.join("config.toml").exists() {
        if let (Some(url), Some(code)) = (&args.service, &args.enroll) {
            let mut config = Config::load()?;
            let identity = Identity::load(&dir, &config.user)?;
            let enrolled = enroll(
                &mut config,
                &identity,
                url,
                code,
                args.ca_fingerprint.as_deref(),
                args.machine.as_deref(),
            )?;
            config.save()?;
            save_machine(&args)?;
            print_enrolled(&enrolled, url, args.output.json)?;
            return Ok(ExitCode::SUCCESS);
        }
        return already_set_up(&args, &dir);
    }
    let name = match args
        .machine
        .clone()
        .or(args.name.clone())
        .or_else(account_name)
        .filter(|n| !n.trim().is_empty())
    {
        Some(n) => n.trim().to_owned(),
        None if args.enroll.is_some() => "fuda".to_owned(),
        None => bail!(
            "cannot tell your user name: $USER is not set and this account has no name in the \
             system user database; pass --name NAME"
        ),
    };
    // Validate the policy before creating anything.
    let policy_ref = match fuda_core::policy::BUILTIN
        .iter()
        .find(|(n, _)| *n == args.policy)
    {
        Some((n, _)) => format!("builtin:{n}"),
        None => std::fs::canonicalize(&args.policy)
            .with_context(|| format!("policy {}: no such built-in policy or file", args.policy))?
            .to_string_lossy()
            .into_owned(),
    };
    let policy = config::load_policy(&policy_ref)?;

    let identity = Identity::create(&dir, &name)?;
    let mut trust = TrustStore::load(&config::trust_path()?)?;
    trust.add(identity.as_signer(SignerKind::User));
    trust.save(&config::trust_path()?)?;
    let mut config = Config {
        user: name.clone(),
        dept: args.dept.clone(),
        policy: policy_ref,
        store: args.store.as_str().to_owned(),
        service: None,
    };
    let enrolled = match (&args.service, &args.enroll) {
        (service, Some(code)) => {
            let enrolled = match service {
                Some(url) => enroll(
                    &mut config,
                    &identity,
                    url,
                    code,
                    args.ca_fingerprint.as_deref(),
                    args.machine.as_deref(),
                ),
                None => enroll_embedded(&mut config, &identity, code),
            };
            match enrolled {
                Ok(e) => Some(e),
                Err(e) => {
                    // Leave nothing half made: the next `fuda init` starts afresh.
                    for f in ["identity.age", "signing.key", "trust.toml", "keyd.token"] {
                        let _ = std::fs::remove_file(dir.join(f));
                    }
                    return Err(e);
                }
            }
        }
        _ => None,
    };
    let name = config.user.clone();
    config.save_new()?;
    save_machine(&args)?;
    if let Some(e) = &enrolled {
        let embedded = format!(
            "on this machine ({})",
            fuda_core::pathname::escaped(&crate::keyservice::embedded_dir()?)
        );
        let url = args.service.as_deref().unwrap_or(&embedded);
        print_enrolled(e, url, args.output.json)?;
        return Ok(ExitCode::SUCCESS);
    }

    let public_key = encode_public_key(identity.public_key());
    let mut out = output::stdout();
    if args.output.json {
        let created = Created {
            user: &name,
            config_dir: JsonPath::new(&dir),
            policy: policy.to_string(),
            recipient: identity.recipient().to_string(),
            signing_key: &public_key,
            key_id: identity.key_id().to_string(),
        };
        output::write_json(&mut out, &created)?;
    } else {
        writeln!(
            out,
            "Created the fuda identity of {name} in {}",
            fuda_core::pathname::escaped(&dir)
        )?;
        writeln!(out, "  policy:       {} ({})", policy, policy.name)?;
        writeln!(out, "  age recipient: {}", identity.recipient())?;
        writeln!(
            out,
            "  signing key:  {public_key} (id {})",
            identity.key_id()
        )?;
        writeln!(out)?;
        writeln!(out, "Colleagues trust your labels after running:")?;
        writeln!(out, "  fuda trust add {name} {public_key}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
