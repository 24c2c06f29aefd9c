//! `fuda-keyd init`'s part of the recovery ceremony: make the organisation's recovery key
//! (or take the recipient of one made offline), write it once for offline storage — whole,
//! or as M-of-N shares — and give the service only its public recipient.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fuda_core::envelope::x25519::{Identity, Recipient};
use fuda_core::recovery_key;
use fuda_keyd::Service;

/// The default file name, beside the data directory.
const DEFAULT_FILE: &str = "fuda-recovery.txt";

/// What init will do about the recovery key, checked before anything is written.
pub enum Plan {
    /// A recipient made offline.
    Offline(Recipient),
    /// A new key, to be written to `file` (or its shares).
    New {
        identity: Identity,
        file: PathBuf,
        shares: Option<(u8, u8)>,
    },
}

/// What was written.
pub struct Written {
    recipient: String,
    files: Vec<PathBuf>,
    shares: Option<(u8, u8)>,
}

impl Plan {
    /// Checks the options: a valid offline recipient, or a file (and share files) that do
    /// not exist yet and lie outside the data directory.
    pub fn new(
        data: &Path,
        recovery: Option<String>,
        file: Option<PathBuf>,
        shares: Option<String>,
    ) -> Result<Plan> {
        if let Some(r) = recovery {
            let recipient = r.trim().parse::<Recipient>().map_err(|_| {
                anyhow::anyhow!("--recovery {r:?} is not an age X25519 recipient (age1…): give the public key that `age-keygen -y` prints for the offline key")
            })?;
            return Ok(Plan::Offline(recipient));
        }
        let shares = shares.map(|s| recovery_key::parse_split(&s)).transpose()?;
        let data = std::path::absolute(data)?;
        let file = match file {
            Some(f) => std::path::absolute(f)?,
            None => data
                .parent()
                .map(|p| p.join(DEFAULT_FILE))
                .context("the data directory has no parent: give --recovery-file")?,
        };
        if file.starts_with(&data) {
            bail!(
                "--recovery-file {} is inside the data directory: the service must never keep the recovery key; write it elsewhere and move it offline",
                file.display()
            );
        }
        let targets = recovery_key::targets(&file, shares);
        if let Some(t) = targets.iter().find(|t| t.symlink_metadata().is_ok()) {
            bail!(
                "{} already exists: fuda-keyd never overwrites a recovery key; move it away or give --recovery-file",
                t.display()
            );
        }
        Ok(Plan::New {
            identity: Identity::generate(),
            file,
            shares,
        })
    }

    /// Writes the key (0600, never replacing a file) and forgets its secret.
    pub fn write(self) -> Result<Written> {
        match self {
            Plan::Offline(recipient) => Ok(Written {
                recipient: recipient.to_string(),
                files: Vec::new(),
                shares: None,
            }),
            Plan::New {
                identity,
                file,
                shares,
            } => Ok(Written {
                recipient: identity.to_public().to_string(),
                files: recovery_key::write_new(&identity, &file, shares)
                    .context("cannot write the recovery key; nothing was created")?,
                shares,
            }),
        }
    }
}

impl Written {
    /// Removes what was written (init failed after it).
    pub fn undo(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }

    /// Gives the service the recipient.
    pub fn register(&self, data: &Path, actor: &str) -> Result<()> {
        let service = Service::open(data)?;
        let done = service.recovery_init(actor, &self.recipient);
        service.close();
        done.context("cannot store the recovery recipient")
    }

    /// The `recovery` field of `init --json`.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "recipient": self.recipient,
            "files": self.files,
            "shares": self.shares.map(|(m, n)| format!("{m}/{n}")),
        })
    }

    /// What the admin must do with the key now, and once a year.
    pub fn ceremony(&self) -> String {
        let mut out = format!(
            "Recovery key (every protected file carries a stanza for it; the service keeps\nonly the public half):\n  recipient:           {}\n",
            self.recipient
        );
        match (self.files.as_slice(), self.shares) {
            ([], _) => out.push_str(
                "  made offline:        keep its identity file where you made it, offline.\n",
            ),
            (files, Some((m, n))) => {
                out.push_str(&format!("  {n} shares, any {m} open every file:\n"));
                for f in files {
                    out.push_str(&format!("    {}\n", f.display()));
                }
                out.push_str(
                    "\nNow: print each share, give each to a different keeper (e.g. one director\n\
                     each), store the papers in separate safes, then delete the share files\n\
                     (`shred -u FILE`). Nobody alone can recover a file.\n",
                );
            }
            ([file, ..], None) => {
                out.push_str(&format!("  written once to:     {}\n", file.display()));
                out.push_str(
                    "\nNow: copy it to two USB sticks (or print it), store them in separate safes,\n\
                     then delete it from this machine (`shred -u FILE`). It must never live on\n\
                     the key service or a file share.\n",
                );
            }
        }
        out.push_str(
            "\nOnce a year, test it on a spare machine with no network:\n\
             \x20 fuda recover --identity FILE some-file.fuda      (or --shares S1,S2)\n\
             \x20 age -d -i FILE some-file.fuda > some-file       (Go age or rage also work)\n\
             See docs/key-service.md, \"The recovery key\".\n",
        );
        out
    }
}
