//! `fuda-keyd`: the fuda key service daemon.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use fuda_keyd::directory::NewUser;
use fuda_keyd::store::Database;
use fuda_keyd::Service;

mod migrate;
mod recovery;

/// fuda-keyd: who may have which protected file's key, and an audit of every answer.
#[derive(Parser)]
#[command(name = "fuda-keyd", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new service: keys (0600), TLS certificate, database, first admin.
    Init {
        /// Data directory (created 0700).
        #[arg(long)]
        data: PathBuf,
        /// The first admin's user name.
        #[arg(long, default_value = "admin")]
        admin: String,
        /// The first admin's department.
        #[arg(long)]
        dept: Option<String>,
        /// The organisation's recovery recipient (age1…), for a recovery key made offline
        /// (`age-keygen` on an air-gapped machine). Without it, init makes a new recovery
        /// key and writes it once to --recovery-file (or to --shares).
        #[arg(long, value_name = "AGE1…", conflicts_with_all = ["recovery_file", "shares"])]
        recovery: Option<String>,
        /// Where to write the new recovery key, once (0600; never kept by the service).
        /// Default: fuda-recovery.txt beside the data directory.
        #[arg(long, value_name = "FILE")]
        recovery_file: Option<PathBuf>,
        /// Split the new recovery key into N printable shares, any M of which open every
        /// protected file (e.g. 2/3): written as FILE.share-1-of-N … instead of FILE.
        #[arg(long, value_name = "M/N")]
        shares: Option<String>,
        /// The organisation's policy, held and enforced by the service from the start (the
        /// same as `fuda admin policy set FILE` right after init). Checked before anything
        /// is created.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Keep the state in this database instead of the SQLite file in the data
        /// directory: postgres://USER@HOST:PORT/DATABASE (add ?sslmode=require and
        /// &sslrootcert=CA.pem for TLS). The database must hold no service yet; it is
        /// named in DATA/database (0600), so `serve --data DATA` finds it.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTPS API until SIGTERM or Ctrl-C (in-flight requests finish).
    Serve {
        /// Data directory made by `init` (its keys and TLS certificate; every replica of
        /// one service has a copy of the same directory).
        #[arg(long)]
        data: PathBuf,
        /// The database, if not the one the data directory names (DATA/database, else
        /// the SQLite file DATA/keyd.db): sqlite:PATH or postgres://USER@HOST:PORT/DB.
        /// Any number of replicas may serve one PostgreSQL database at once.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Most days a registered document may be used offline; a registration asking more
        /// is refused.
        #[arg(long, default_value_t = fuda_keyd::limits::DEFAULT_MAX_OFFLINE_DAYS)]
        max_offline_days: u32,
        /// Latest expiry a registration may set, in days from now; later is refused.
        #[arg(long, default_value_t = fuda_keyd::limits::DEFAULT_MAX_EXPIRY_DAYS)]
        max_expiry_days: u32,
        /// Days an API token stays valid after enrollment (default: until revoked,
        /// re-enrollment or disabling).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        token_lifetime_days: Option<u32>,
        /// Most connections open at once; more are closed as soon as they are accepted.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        /// Most connections open at once from one address.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections_per_address: u32,
        /// Seconds a connection may stay silent (TLS handshake, request headers, or
        /// between requests) before it is closed.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        idle_timeout_secs: u64,
        /// Failed authentications (wrong token or enrollment code) from one address within
        /// a minute before that address is answered 429 for five minutes (audited).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
        max_auth_failures: u32,
        /// Requests one account (all of one user's tokens) may make in a minute, a whole
        /// minute's worth at once; over it the account is answered 429 with Retry-After
        /// (the first refusal in a minute audited as account-throttled) while others go
        /// on. The default fits a 10,000-file folder opened in one go three times over.
        #[arg(long, default_value_t = fuda_keyd_server::guard::DEFAULT_ACCOUNT_REQUESTS_PER_MINUTE,
              value_parser = clap::value_parser!(u32).range(1..))]
        max_requests_per_account_per_minute: u32,
    },
    /// Move the service's state to another database (e.g. from its SQLite file to
    /// PostgreSQL): users, tokens, groups, documents, grants, revocations, policy versions,
    /// metadata and the whole audit chain, checked identical after the move and the chain
    /// verified. Stop the service first. On success the data directory names the new
    /// database, so `serve --data DATA` uses it.
    Migrate {
        /// Data directory (its audit key verifies the chain before and after).
        #[arg(long)]
        data: PathBuf,
        /// Where the state is now: sqlite:PATH (default: the data directory's database).
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// Where it goes: postgres://USER@HOST:PORT/DATABASE (must hold no service yet).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a wrapping key version, as `fuda admin rotate-key` does, for a service run as
    /// replicas on PostgreSQL (which refuses it over the API): run it with every replica
    /// stopped, then copy DATA/keys to every replica before starting them again.
    RotateKey {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// The admin doing it (recorded in the audit log).
        #[arg(long)]
        admin: String,
    },
    /// Print the TLS certificate's SHA-256 fingerprint (for `fuda init --ca-fingerprint`).
    Fingerprint {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Make a new one-time enrollment code for an admin, on the server itself: the way out
    /// when the first admin's code from `init` lapsed (7 days) or was lost before anyone
    /// enrolled. Needs access to the data directory, not a token; audited as that admin.
    AdminCode {
        /// Data directory made by `init`.
        #[arg(long)]
        data: PathBuf,
        /// The admin who enrolls with the code.
        #[arg(long, default_value = "admin")]
        admin: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FUDA_KEYD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // `fuda-keyd generate man|completions DIR`, hidden, writes the package's man pages and
    // completions (scripts/package); it is no part of the command line they describe.
    let matches = Cli::command()
        .subcommand(fuda_clidoc::subcommand())
        .get_matches();
    if let Some(code) = fuda_clidoc::dispatch(&matches, Cli::command) {
        return code;
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuda-keyd: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            data,
            admin,
            dept,
            recovery,
            recovery_file,
            shares,
            policy,
            database,
            json,
        } => {
            if data.join(fuda_keyd::service::DB_FILE).exists() {
                anyhow::bail!(
                    "{} already holds a key service: fuda-keyd never overwrites one. Start it with \
                     `fuda-keyd serve --data {}`; a lapsed first enrollment code is replaced with \
                     `fuda-keyd admin-code --data {}`; for a new service give another --data",
                    data.display(),
                    data.display(),
                    data.display()
                );
            }
            // A policy with errors stops init before anything exists.
            let policy = policy.map(|path| read_policy(&path)).transpose()?;
            let database = match database {
                Some(url) => Database::parse(&url)?,
                None => Database::Sqlite(data.join(fuda_keyd::service::DB_FILE)),
            };
            let fresh = !data.exists();
            let plan = recovery::Plan::new(&data, recovery, recovery_file, shares)?;
            let written = plan.write()?;
            let init = fuda_keyd_server::http::init_on(
                &data,
                &database,
                NewUser {
                    name: admin.clone(),
                    display_name: None,
                    dept,
                    admin: true,
                    auditor: false,
                    kind: Default::default(),
                },
            )
            .inspect_err(|_| written.undo())?;
            written.register(&data, &admin)?;
            let policy_set = match policy {
                Some((text, origin, id)) => Some(
                    set_policy(&data, &admin, text, origin, id).inspect_err(|_| {
                        // Nothing half-made stays behind: what this command created a
                        // moment ago goes, and a directory that was there before stays.
                        written.undo();
                        remove_created(&data, fresh);
                    })?,
                ),
                None => None,
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "data": data, "fingerprint": init.fingerprint, "admin": admin,
                        "enrollment_code": init.admin.code, "service": init.info,
                        "recovery": written.record(),
                        "policy": policy_set,
                    })
                );
            } else {
                println!("Created the fuda key service in {}", data.display());
                println!("  service id:          {}", init.info.id);
                println!("  TLS fingerprint:     {}", init.fingerprint);
                println!("  first admin:         {admin}");
                match &policy_set {
                    Some(p) => println!("  policy:              {} version {}", p.id, p.version),
                    None => println!(
                        "  policy:              none yet: set it with `fuda admin policy set FILE`"
                    ),
                }
                println!(
                    "  enrollment code:     {}  (one-time, valid 7 days)",
                    init.admin.code
                );
                println!();
                println!(
                    "Start it:  fuda-keyd serve --data {} --listen 127.0.0.1:8443",
                    data.display()
                );
                println!("Then, as {admin}:");
                println!(
                    "  fuda init --name {admin} --service https://HOST:8443 --enroll {} --ca-fingerprint {}",
                    init.admin.code, init.fingerprint
                );
                println!();
                print!("{}", written.ceremony());
            }
            Ok(())
        }
        Command::Serve {
            data,
            listen,
            database,
            threads,
            max_offline_days,
            max_expiry_days,
            token_lifetime_days,
            max_connections,
            max_connections_per_address,
            idle_timeout_secs,
            max_auth_failures,
            max_requests_per_account_per_minute,
        } => {
            let front = fuda_keyd_server::guard::FrontLimits {
                max_connections: max_connections as usize,
                max_connections_per_address: max_connections_per_address as usize,
                idle_timeout: std::time::Duration::from_secs(idle_timeout_secs),
                auth_failures: max_auth_failures,
                account_requests_per_minute: max_requests_per_account_per_minute,
                ..Default::default()
            };
            let database = match database {
                Some(url) => Database::parse(&url)?,
                None => Database::of_dir(&data)?,
            };
            let limits = fuda_keyd::limits::Limits {
                max_offline_days,
                max_expiry_days,
                token_lifetime_days,
            };
            no_service_hint(&data)?;
            let service = Service::open_on(&data, &database, limits).with_context(|| {
                format!(
                    "cannot open the service in {} on {}",
                    data.display(),
                    database.label()
                )
            })?;
            let tls = fuda_keyd_server::tls::server_config(&data.join("tls"))?;
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = threads {
                rt.worker_threads(n.max(1));
            }
            let rt = rt.enable_all().build()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let addr = listener.local_addr()?;
                let shutdown = shutdown_signal()?;
                tracing::info!(%addr, id = %service.info().id, "fuda-keyd listening");
                // Tests and scripts read this line to learn a random port.
                println!("listening on {addr}");
                fuda_keyd_server::http::serve(service.clone(), tls, listener, front, shutdown)
                    .await;
                anyhow::Ok(())
            })?;
            service.close();
            tracing::info!("stopped");
            Ok(())
        }
        Command::AdminCode { data, admin, json } => admin_code(&data, &admin, json),
        Command::Migrate {
            data,
            from,
            to,
            json,
        } => migrate::run(&data, from.as_deref(), &to, json),
        Command::RotateKey { data, admin } => {
            let service = Service::open(&data)
                .with_context(|| format!("cannot open the service in {}", data.display()))?;
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            let info =
                rt.block_on(service.rotate_key(fuda_keyd::service::Caller::Local(admin.clone())));
            service.close();
            let info = info.context("cannot rotate the key")?;
            println!(
                "New wrapping key version {} in {}: copy that directory to every replica, then start them.",
                info.key_version,
                data.join("keys").display()
            );
            Ok(())
        }
        Command::Fingerprint { data } => {
            println!(
                "{}",
                fuda_keyd_server::tls::fingerprint_of(&data.join("tls"))?
            );
            Ok(())
        }
    }
}

/// Refuses a data directory that holds no service, saying how to make one.
fn no_service_hint(data: &std::path::Path) -> Result<()> {
    if !data.join(fuda_keyd::service::DB_FILE).exists()
        && !data.join(fuda_keyd::store::DATABASE_FILE).exists()
    {
        anyhow::bail!(
            "{} holds no key service ({} not found): create one with `fuda-keyd init --data {}`",
            data.display(),
            fuda_keyd::service::DB_FILE,
            data.display()
        );
    }
    Ok(())
}

/// `admin-code`: a new one-time enrollment code for `admin`, made on the server.
fn admin_code(data: &std::path::Path, admin: &str, json: bool) -> Result<()> {
    no_service_hint(data)?;
    let service = Service::open(data)
        .with_context(|| format!("cannot open the service in {}", data.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let added = rt.block_on(service.user_code(
        fuda_keyd::service::Caller::Local(admin.to_owned()),
        admin.to_owned(),
    ));
    service.close();
    let added = added.with_context(|| {
        format!("cannot make a code for {admin} (it must be an admin of this service)")
    })?;
    let fingerprint = fuda_keyd_server::tls::fingerprint_of(&data.join("tls"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "admin": added.user.name, "enrollment_code": added.code, "fingerprint": fingerprint,
            })
        );
    } else {
        println!(
            "One-time enrollment code for {} (valid 7 days): {}",
            added.user.name, added.code
        );
        println!("Then, as {}:", added.user.name);
        println!(
            "  fuda init --name {} --service https://HOST:8443 --enroll {} --ca-fingerprint {}",
            added.user.name, added.code, fingerprint
        );
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, before
/// the service says it is listening: a SIGTERM sent as soon as the listening line appears
/// stops the service gracefully instead of killing it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("interrupt received"),
        }
    })
}

/// Reads and checks a policy file for `init --policy`: its text and the name it is set from.
fn read_policy(path: &std::path::Path) -> Result<(String, String, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy {}", path.display()))?;
    let policy = fuda_core::policy::Policy::from_toml(&text, path).map_err(|e| {
        anyhow::anyhow!("{e}\nnothing was created: fix the policy and run init again")
    })?;
    Ok((text, path.display().to_string(), policy.id))
}

/// What `init --policy` set.
#[derive(serde::Serialize)]
struct PolicySetAtInit {
    id: String,
    version: u32,
}

/// Sets the organisation's policy as the first admin, right after init.
fn set_policy(
    data: &std::path::Path,
    admin: &str,
    text: String,
    origin: String,
    id: String,
) -> Result<PolicySetAtInit> {
    let service = Service::open(data)
        .with_context(|| format!("cannot open the new service in {}", data.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let set = rt.block_on(service.policy_set(
        fuda_keyd::service::Caller::Local(admin.to_owned()),
        text,
        origin,
    ));
    service.close();
    let set = set.context(
        "cannot set the policy (init checks it against the default caps; for higher ones, init \
         without --policy, serve with --max-offline-days/--max-expiry-days, then `fuda admin \
         policy set FILE`); nothing was created",
    )?;
    Ok(PolicySetAtInit {
        id,
        version: set.version,
    })
}

/// Removes a service `init` has just created in `data`: the whole directory when init
/// made it, else only what init put in it.
fn remove_created(data: &std::path::Path, fresh: bool) {
    if fresh {
        let _ = std::fs::remove_dir_all(data);
        return;
    }
    let _ = std::fs::remove_file(data.join(fuda_keyd::store::DATABASE_FILE));
    for dir in ["keys", "tls"] {
        let _ = std::fs::remove_dir_all(data.join(dir));
    }
    let db = fuda_keyd::service::DB_FILE;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("{db}{suffix}")));
    }
}
