//! `fuda rewrap`: brings existing protected files to the recovery recipients in force
//! (after `fuda admin recovery rotate`), through the key service — which alone holds the
//! file keys — with the payload untouched.

use std::path::Path;

use fuda_core::envelope::{self, recovery, x25519, Header};
use fuda_keyd::client::KeyService;

use crate::ProtectError;

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewritten {
    /// It already carried every recovery recipient: untouched, not sent.
    Current,
    /// Its header now carries every recovery recipient.
    Rewrapped,
}

/// Rewraps files through one key service, whose recovery recipients are read once.
pub struct Rewrapper<'a> {
    service: &'a dyn KeyService,
    recipients: Vec<x25519::Recipient>,
}

impl<'a> Rewrapper<'a> {
    /// Reads the service's recovery recipients.
    pub fn new(service: &'a dyn KeyService) -> Result<Rewrapper<'a>, ProtectError> {
        let recipients = service
            .recovery_recipients()
            .map_err(ProtectError::KeyService)?
            .iter()
            .map(|r| {
                r.parse().map_err(|_| ProtectError::BadServiceRecipient {
                    recipient: r.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Rewrapper {
            service,
            recipients,
        })
    }

    /// The recovery recipients in force.
    pub fn recipients(&self) -> &[x25519::Recipient] {
        &self.recipients
    }

    /// Brings the protected file at `path` to every recovery recipient: the service
    /// answers with the header, which replaces the file's own atomically (a temporary
    /// file takes its place only when complete), the nonce and payload copied byte for
    /// byte. A file that already carries them all is not touched.
    pub fn rewrap(&self, path: &Path) -> Result<Rewritten, ProtectError> {
        let old = read_header(path)?;
        if recovery::is_complete(&old, &self.recipients) {
            return Ok(Rewritten::Current);
        }
        let answer =
            self.service
                .rewrap(old.to_bytes())
                .map_err(|source| ProtectError::Rewrap {
                    path: path.to_owned(),
                    source,
                })?;
        let rewrite = |source| ProtectError::Rewrite {
            path: path.to_owned(),
            source,
        };
        if !answer.changed {
            return Ok(Rewritten::Current);
        }
        let (new, len) = Header::parse_bytes(&answer.header).map_err(rewrite)?;
        if len != answer.header.len() || new.label() != old.label() {
            return Err(rewrite(envelope::Error::Header(
                "the key service answered with the header of another document".into(),
            )));
        }
        envelope::replace_header(path, &old, &new).map_err(rewrite)?;
        Ok(Rewritten::Rewrapped)
    }
}

/// The header of the protected file at `path`.
pub(crate) fn read_header(path: &Path) -> Result<Header, ProtectError> {
    let file = fuda_core::longpath::reach(path)
        .and_then(std::fs::File::open)
        .map_err(|source| ProtectError::Read {
            path: path.to_owned(),
            source,
        })?;
    let mut input = std::io::BufReader::new(file);
    Header::parse(&mut input).map_err(|source| ProtectError::Decrypt {
        path: path.to_owned(),
        source,
    })
}
