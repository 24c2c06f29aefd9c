//! The organisation's recovery recipients in a header, and adding them to a header whose
//! file key is known.
//!
//! An `X25519` stanza does not say which recipient it is for, so a header that carries
//! stanzas for the recovery recipients says so in a `fuda/recovery` stanza whose
//! arguments are those recipients (`age1…`) and whose body is empty:
//!
//! ```text
//! -> X25519 …                  the key service
//! -> fuda/label <doc-id>
//! -> X25519 …                  recovery recipient 1
//! -> fuda/recovery age1… age1…
//! ```
//!
//! The key service writes both at registration (it knows the file key after unwrapping
//! its own stanza) and at rewrap; `age -d` and `rage -d` skip the `fuda/recovery` stanza
//! like the label. The header MAC covers it, so nobody without the file key can change it.

use super::header::{Header, Stanza};
use super::{x25519, Error, FileKey};

/// The stanza tag of the recovery record.
pub const RECOVERY_TAG: &str = "fuda/recovery";

/// The recovery recipients the header's `fuda/recovery` stanza lists (none if it has none).
pub fn recorded(header: &Header) -> Vec<String> {
    header
        .stanzas()
        .iter()
        .filter(|s| s.tag == RECOVERY_TAG)
        .flat_map(|s| s.args.iter().cloned())
        .collect()
}

/// Whether the header already records every one of `recipients`.
pub fn is_complete(header: &Header, recipients: &[x25519::Recipient]) -> bool {
    let have = recorded(header);
    recipients.iter().all(|r| have.contains(&r.to_string()))
}

/// How far to believe the `fuda/recovery` stanza already in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Ignore it and wrap to every recipient (registration: the header comes from a
    /// client that may have written any record it liked).
    Distrust,
    /// Wrap only to the recipients it does not list yet (rewrap of a header the key
    /// service completed before).
    Trust,
}

/// Returns `header` with one `X25519` stanza for each of `recipients` that it does not
/// carry yet (see [`Recorded`]), a `fuda/recovery` stanza listing them all, and a MAC
/// recomputed with `file_key` (which must open `header`: its MAC is checked first).
///
/// Every other stanza is kept as it is, so the header still opens with every identity it
/// opened with before, and the payload after it is untouched.
pub fn complete(
    header: &Header,
    file_key: &FileKey,
    recipients: &[x25519::Recipient],
    trust: Recorded,
) -> Result<Header, Error> {
    header.verify_mac(file_key)?;
    let mut listed = match trust {
        Recorded::Trust => recorded(header),
        Recorded::Distrust => Vec::new(),
    };
    let mut stanzas: Vec<Stanza> = header
        .stanzas()
        .iter()
        .filter(|s| s.tag != RECOVERY_TAG)
        .cloned()
        .collect();
    for recipient in recipients {
        let name = recipient.to_string();
        if !listed.contains(&name) {
            stanzas.push(x25519::wrap(file_key, recipient)?);
            listed.push(name);
        }
    }
    if !listed.is_empty() {
        stanzas.push(Stanza {
            tag: RECOVERY_TAG.to_owned(),
            args: listed,
            body: Vec::new(),
        });
    }
    header.rewrap(file_key, stanzas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{self, Decryptor, LabelStanza, StreamOptions};

    fn file(recipients: &[x25519::Recipient]) -> Vec<u8> {
        let doc = "01J9ZK3Q2N8V4X6Y7T5R3P1M0A".parse().unwrap();
        let label = LabelStanza::new(doc, b"{}".to_vec());
        let mut out = Vec::new();
        envelope::encrypt(
            recipients,
            Some(&label),
            &b"drawing"[..],
            &mut out,
            &StreamOptions::default(),
        )
        .unwrap();
        out
    }

    fn opens(file: &[u8], header: &Header, identity: &x25519::Identity) -> Vec<u8> {
        let (_, len) = Header::parse_bytes(file).unwrap();
        let mut rewritten = header.to_bytes();
        rewritten.extend_from_slice(&file[len..]);
        let mut plain = Vec::new();
        Decryptor::new(&rewritten[..])
            .unwrap()
            .decrypt_to(identity, &mut plain, &StreamOptions::default())
            .unwrap();
        plain
    }

    #[test]
    fn a_completed_header_opens_with_the_recovery_key_and_still_with_the_service() {
        let service = x25519::Identity::generate();
        let recovery = x25519::Identity::generate();
        let bytes = file(&[service.to_public()]);
        let d = Decryptor::new(&bytes[..]).unwrap();
        let key = d.unwrap_file_key(&service).unwrap();
        let done = complete(
            d.header(),
            &key,
            &[recovery.to_public()],
            Recorded::Distrust,
        )
        .unwrap();
        assert_eq!(opens(&bytes, &done, &recovery), b"drawing");
        assert_eq!(opens(&bytes, &done, &service), b"drawing");
        assert_eq!(recorded(&done), [recovery.to_public().to_string()]);
        assert!(is_complete(&done, &[recovery.to_public()]));
        assert_eq!(done.label(), d.header().label());
    }

    #[test]
    fn a_forged_record_is_ignored_at_registration_and_trusted_at_rewrap() {
        let service = x25519::Identity::generate();
        let recovery = x25519::Identity::generate();
        let bytes = file(&[service.to_public()]);
        let d = Decryptor::new(&bytes[..]).unwrap();
        let key = d.unwrap_file_key(&service).unwrap();
        // A client claims the recovery stanza is there, without it.
        let mut forged = d.header().stanzas().to_vec();
        forged.push(Stanza {
            tag: RECOVERY_TAG.into(),
            args: vec![recovery.to_public().to_string()],
            body: Vec::new(),
        });
        let forged = Header::new(forged, &key).unwrap();
        let done = complete(&forged, &key, &[recovery.to_public()], Recorded::Distrust).unwrap();
        assert_eq!(opens(&bytes, &done, &recovery), b"drawing");
        let count = |h: &Header| h.stanzas().iter().filter(|s| s.tag == "X25519").count();
        assert_eq!(count(&done), 2);
        // Rewrap of a completed header adds only what is missing.
        let again = complete(&done, &key, &[recovery.to_public()], Recorded::Trust).unwrap();
        assert_eq!(count(&again), 2);
        let newer = x25519::Identity::generate();
        let rotated = complete(
            &done,
            &key,
            &[recovery.to_public(), newer.to_public()],
            Recorded::Trust,
        )
        .unwrap();
        assert_eq!(count(&rotated), 3);
        assert_eq!(opens(&bytes, &rotated, &newer), b"drawing");
    }

    #[test]
    fn a_wrong_file_key_changes_nothing() {
        let service = x25519::Identity::generate();
        let bytes = file(&[service.to_public()]);
        let d = Decryptor::new(&bytes[..]).unwrap();
        let wrong = FileKey::from_bytes([7; 16]);
        let err = complete(d.header(), &wrong, &[service.to_public()], Recorded::Trust);
        assert!(matches!(err, Err(Error::HeaderMac)));
    }
}
