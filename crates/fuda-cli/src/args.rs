//! Flags shared by several commands, each defined once: a command takes them with
//! `#[command(flatten)]` and works on the resolved values.
//!
//! ```ignore
//! #[derive(clap::Args)]
//! pub struct Args {
//!     #[command(flatten)]
//!     output: OutputArgs,   // --json
//!     #[command(flatten)]
//!     jobs: JobsArgs,       // -j/--jobs
//!     #[command(flatten)]
//!     policy: PolicyArgs,   // --policy
//!     #[command(flatten)]
//!     store: StoreArgs,     // --store xattr|auto|sidecar
//! }
//! let session = Session::load(args.policy.policy())?;
//! let labeler = args.store.labeler(&session)?;
//! ```

use anyhow::Result;
use fuda_core::labeling::{Labeler, StorePreference};

use crate::config::Session;

/// `--json`: records for scripts instead of text for people (see [`crate::output`]).
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct OutputArgs {
    /// Print JSON records, one per line (JSON Lines), instead of text for people
    /// (docs/cli.md lists the records).
    #[arg(long)]
    pub json: bool,
}

/// `-j/--jobs`: worker threads.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct JobsArgs {
    /// Worker threads (0 = one per core).
    #[arg(short, long, default_value_t = 0)]
    pub jobs: usize,
}

/// `--policy`: a policy for this run instead of the configured one.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// Use this policy (a file, or a built-in name such as builtin:ipa-sme) instead of the
    /// configured one.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
}

impl PolicyArgs {
    /// The policy named on the command line, if any.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }
}

/// Where labels of non-Office files go.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The `user.fuda.label` extended attribute; a file system that refuses it is an error.
    Xattr,
    /// The extended attribute, else the .fuda sidecar index of the folder (reported).
    Auto,
    /// Always the .fuda sidecar index of the folder.
    Sidecar,
}

impl Store {
    /// The name written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Xattr => "xattr",
            Store::Auto => "auto",
            Store::Sidecar => "sidecar",
        }
    }
}

impl From<Store> for StorePreference {
    fn from(store: Store) -> StorePreference {
        match store {
            Store::Xattr => StorePreference::Xattr,
            Store::Auto => StorePreference::Auto,
            Store::Sidecar => StorePreference::Sidecar,
        }
    }
}

/// `--store`: where new labels of non-Office files go, for commands that write labels.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct StoreArgs {
    /// Where labels of non-Office files go [default: from config, else xattr].
    #[arg(long, value_enum)]
    pub store: Option<Store>,
}

impl StoreArgs {
    /// The store to use: the flag, else the configured one.
    pub fn preference(&self, session: &Session) -> Result<StorePreference> {
        match self.store {
            Some(store) => Ok(store.into()),
            None => session.config.store_preference(),
        }
    }

    /// The labeler of `session` with this store (see [`labeler`]).
    pub fn labeler<'a>(&self, session: &'a Session) -> Result<Labeler<'a>> {
        Ok(labeler(session, self.preference(session)?))
    }
}

/// The one place a [`Labeler`] is built from a session: its policy, identity, trust store
/// and verification memo, writing to `preference`. A command that needs more (the
/// content digest cache) adds it with `Labeler { digests: Some(&d), ..labeler(…) }`.
pub fn labeler(session: &Session, preference: StorePreference) -> Labeler<'_> {
    Labeler {
        policy: &session.policy,
        identity: &session.identity,
        trust: &session.trust,
        dept: session.config.dept.clone(),
        preference,
        memo: Some(&session.memo),
        digests: None,
    }
}

/// The configured store of `session` (for commands without `--store`).
pub fn configured_labeler(session: &Session) -> Result<Labeler<'_>> {
    StoreArgs::default().labeler(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        jobs: JobsArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
    }

    #[test]
    fn the_shared_flags_parse_into_typed_values() {
        let cli = Cli::parse_from([
            "fuda", "--json", "-j", "3", "--policy", "p.toml", "--store", "sidecar",
        ]);
        assert!(cli.output.json);
        assert_eq!(cli.jobs.jobs, 3);
        assert_eq!(cli.policy.policy(), Some("p.toml"));
        assert_eq!(cli.store.store, Some(Store::Sidecar));
        let none = Cli::parse_from(["fuda"]);
        assert!(!none.output.json && none.jobs.jobs == 0 && none.store.store.is_none());
    }

    #[test]
    fn an_unknown_store_is_refused_by_name() {
        let e = Cli::try_parse_from(["fuda", "--store", "floppy"])
            .err()
            .expect("refused");
        let text = e.to_string();
        assert!(text.contains("xattr") && text.contains("sidecar"), "{text}");
    }
}
