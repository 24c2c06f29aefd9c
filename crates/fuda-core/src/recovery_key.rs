//! The organisation's recovery key (an age X25519 identity) on paper: as an identity file
//! that `fuda recover`, `age -d -i` and `rage -d -i` read, or split into M-of-N printable
//! shares, any M of which give the identity back.
//!
//! A share is one line of text:
//!
//! ```text
//! fuda-share-v1:2of3:1:9f3a12bc:<66 hex digits>:<8 hex digits>
//!               |    | |        |               checksum of everything before it
//!               |    | |        the share (x coordinate, then 32 bytes)
//!               |    | set: the first 4 bytes of SHA-256 of the recipient (age1…)
//!               |    number of this share
//!               threshold and count
//! ```
//!
//! The checksum (the first 4 bytes of SHA-256 of the text before it) catches a mistyped
//! share and names it; the set catches shares of different keys; the threshold refuses
//! too few shares before anything is combined, and the identity put back together must
//! have the set's recipient. The splitting itself is Shamir's scheme over GF(256) from the
//! `blahaj` crate (the maintained fork of `sharks`, with the fix for RUSTSEC-2024-0398).

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

use crate::envelope::x25519::{Identity, Recipient};

/// The prefix of every share.
pub const SHARE_PREFIX: &str = "fuda-share-v1";

/// The bech32 human-readable part of age X25519 identities.
const IDENTITY_HRP: &str = "age-secret-key-";

/// What is wrong with a set of shares.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// `M/N` is not a valid split.
    #[error("--shares {0:?}: write M/N with 2 ≤ M ≤ N ≤ 255, e.g. 2/3 (any 2 of 3 shares open)")]
    BadSplit(String),
    /// A share is not a fuda share line.
    #[error("share {position} ({text:?}) is not a fuda recovery share: it must start with {SHARE_PREFIX}: and have 6 fields separated by ':'")]
    Malformed {
        /// Its place in the list given (1-based).
        position: usize,
        /// The text (a share is worthless alone, so it may be shown).
        text: String,
    },
    /// A share's checksum does not match: a typo.
    #[error("share {position} (number {number} of its set) has a typo: its checksum does not match; compare it with the printed copy character by character")]
    Typo {
        /// Its place in the list given (1-based).
        position: usize,
        /// The share number it claims.
        number: String,
    },
    /// Shares of different keys or splits.
    #[error("share {position} belongs to another recovery key or split than share 1 (set {found}, not {expected})")]
    MixedSets {
        /// Its place in the list given (1-based).
        position: usize,
        /// Its set.
        found: String,
        /// Share 1's set.
        expected: String,
    },
    /// The same share given twice.
    #[error("share number {number} is given twice")]
    Duplicate {
        /// The share number.
        number: u8,
    },
    /// Fewer shares than the threshold.
    #[error("{given} share(s) given, but this key was split so that {needed} are needed")]
    TooFew {
        /// Shares given.
        given: usize,
        /// The threshold.
        needed: u8,
    },
    /// A share named as a file could not be read.
    #[error("share {position}: cannot read {path}: {reason}")]
    Unreadable {
        /// Its place in the list given (1-based).
        position: usize,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The shares combine to something that is not the set's key.
    #[error("the shares do not combine to the recovery key of set {set}: one of them was altered and its checksum recomputed")]
    WrongKey {
        /// The set.
        set: String,
    },
}

/// The text of an age identity file holding `identity`, with a comment naming its
/// recipient (what `age-keygen` writes). Wiped when dropped.
pub fn identity_file_text(identity: &Identity, comment: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# {comment}\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    ))
}

/// The set id of `recipient`: the first 4 bytes of SHA-256 of its text, hex.
pub fn set_id(recipient: &Recipient) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, recipient.to_string().as_bytes());
    hex::encode(&digest.as_ref()[..4])
}

fn checksum(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex::encode(&digest.as_ref()[..4])
}

/// Parses `M/N` for [`split`].
pub fn parse_split(text: &str) -> Result<(u8, u8), ShareError> {
    let bad = || ShareError::BadSplit(text.to_owned());
    let (m, n) = text.split_once('/').ok_or_else(bad)?;
    let (m, n): (u8, u8) = (
        m.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if m < 2 || m > n || n == 255 {
        return Err(bad());
    }
    Ok((m, n))
}

fn secret_bytes(identity: &Identity) -> Zeroizing<Vec<u8>> {
    use bech32::FromBase32 as _;
    let text = identity.to_string();
    let (_, data, _) = bech32::decode(&text.expose_secret().to_lowercase())
        .expect("an age identity is valid bech32");
    Zeroizing::new(Vec::<u8>::from_base32(&data).expect("an age identity holds whole bytes"))
}

fn identity_from_bytes(bytes: &[u8]) -> Option<Identity> {
    use bech32::ToBase32 as _;
    let text = Zeroizing::new(
        bech32::encode(IDENTITY_HRP, bytes.to_base32(), bech32::Variant::Bech32)
            .ok()?
            .to_uppercase(),
    );
    text.parse().ok()
}

/// Splits `identity` into `n` shares, any `m` of which give it back (see the module
/// documentation for the format). `m`/`n` as checked by [`parse_split`].
pub fn split(identity: &Identity, m: u8, n: u8) -> Vec<Zeroizing<String>> {
    let set = set_id(&identity.to_public());
    let secret = secret_bytes(identity);
    blahaj::Sharks(m)
        .dealer(&secret)
        .take(usize::from(n))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::<u8>::from(&share));
            let body = Zeroizing::new(format!(
                "{SHARE_PREFIX}:{m}of{n}:{}:{set}:{}",
                bytes[0],
                hex::encode(&bytes[..])
            ));
            let sum = checksum(&body);
            Zeroizing::new(format!("{}:{sum}", *body))
        })
        .collect()
}

/// One share, parsed and checked.
struct Parsed {
    threshold: u8,
    set: String,
    number: u8,
    bytes: Zeroizing<Vec<u8>>,
}

fn parse_share(position: usize, text: &str) -> Result<Parsed, ShareError> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let malformed = || ShareError::Malformed {
        position,
        text: text.trim().to_owned(),
    };
    let fields: Vec<&str> = clean.split(':').collect();
    let [prefix, split, number, set, hex_share, sum] = fields[..] else {
        return Err(malformed());
    };
    if prefix != SHARE_PREFIX {
        return Err(malformed());
    }
    let body_len = clean.len() - sum.len() - 1;
    if checksum(&clean[..body_len]) != sum {
        return Err(ShareError::Typo {
            position,
            number: number.to_owned(),
        });
    }
    let (threshold, _) = split
        .split_once("of")
        .and_then(|(m, n)| Some((m.parse::<u8>().ok()?, n.parse::<u8>().ok()?)))
        .ok_or_else(malformed)?;
    let number: u8 = number.parse().map_err(|_| malformed())?;
    let bytes = Zeroizing::new(hex::decode(hex_share).map_err(|_| malformed())?);
    if bytes.len() != 33 || bytes[0] != number || threshold < 2 {
        return Err(malformed());
    }
    Ok(Parsed {
        threshold,
        set: set.to_owned(),
        number,
        bytes,
    })
}

/// Puts the identity back together from `shares` (their text, in any order). Every
/// problem names the share it is about, by its place in `shares` (1-based).
pub fn combine<S: AsRef<str>>(shares: &[S]) -> Result<Identity, ShareError> {
    let parsed = shares
        .iter()
        .enumerate()
        .map(|(i, s)| parse_share(i + 1, s.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = parsed.first() else {
        return Err(ShareError::TooFew {
            given: 0,
            needed: 2,
        });
    };
    let mut numbers = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        if p.set != first.set || p.threshold != first.threshold {
            return Err(ShareError::MixedSets {
                position: i + 1,
                found: p.set.clone(),
                expected: first.set.clone(),
            });
        }
        if numbers.contains(&p.number) {
            return Err(ShareError::Duplicate { number: p.number });
        }
        numbers.push(p.number);
    }
    if parsed.len() < usize::from(first.threshold) {
        return Err(ShareError::TooFew {
            given: parsed.len(),
            needed: first.threshold,
        });
    }
    let wrong = || ShareError::WrongKey {
        set: first.set.clone(),
    };
    let shares = parsed
        .iter()
        .map(|p| blahaj::Share::try_from(&p.bytes[..]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| wrong())?;
    let secret = Zeroizing::new(
        blahaj::Sharks(first.threshold)
            .recover(&shares)
            .map_err(|_| wrong())?,
    );
    let identity = identity_from_bytes(&secret).ok_or_else(wrong)?;
    if set_id(&identity.to_public()) != first.set {
        return Err(wrong());
    }
    Ok(identity)
}

/// Where share `i` of `n` of a key meant for `file` goes: `FILE.share-I-of-N`.
pub fn share_path(file: &Path, i: u8, n: u8) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".share-{i}-of-{n}"));
    PathBuf::from(name)
}

/// The files [`write_new`] writes for `file` and `shares`.
pub fn targets(file: &Path, shares: Option<(u8, u8)>) -> Vec<PathBuf> {
    match shares {
        Some((_, n)) => (1..=n).map(|i| share_path(file, i, n)).collect(),
        None => vec![file.to_owned()],
    }
}

/// Writes `identity` once for offline storage (mode 0600, never replacing a file): whole
/// to `file`, or with `shares = Some((m, n))` as `n` share pages ([`share_path`]) and no
/// whole copy. On failure, what was written is removed. Returns the files written.
pub fn write_new(
    identity: &Identity,
    file: &Path,
    shares: Option<(u8, u8)>,
) -> std::io::Result<Vec<PathBuf>> {
    let recipient = identity.to_public();
    let pages: Vec<(PathBuf, Zeroizing<String>)> = match shares {
        None => vec![(
            file.to_owned(),
            identity_file_text(
                identity,
                "fuda recovery key: opens every protected file of the organisation. Keep it offline.",
            ),
        )],
        Some((m, n)) => split(identity, m, n)
            .into_iter()
            .zip(1..=n)
            .map(|(share, i)| {
                let page = Zeroizing::new(format!(
                    "# fuda recovery key, share {i} of {n}: any {m} shares open every protected file.\n\
                     # Recovery recipient (public): {recipient}\n\
                     # Recover: fuda recover --shares SHARE,SHARE FILE.fuda\n{}\n",
                    *share
                ));
                (share_path(file, i, n), page)
            })
            .collect(),
    };
    let mut written = Vec::new();
    for (path, text) in pages {
        if let Err(e) = crate::fsutil::create_secret_file(&path, text.as_bytes()) {
            for w in &written {
                let _ = std::fs::remove_file(w);
            }
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ));
        }
        written.push(path);
    }
    Ok(written)
}

/// The text of share `position` as given on a command line: the share itself, or the
/// name of a file holding it (a share page written by `fuda-keyd init --shares`, whose
/// share is the line that starts with `fuda-share-v1:`).
fn share_arg(position: usize, arg: &str) -> Result<Zeroizing<String>, ShareError> {
    let path = Path::new(arg.trim());
    if arg.trim_start().to_lowercase().starts_with(SHARE_PREFIX) || !path.is_file() {
        return Ok(Zeroizing::new(arg.to_owned()));
    }
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| ShareError::Unreadable {
                position,
                path: path.to_owned(),
                reason: e.to_string(),
            })?,
        );
    let line = text
        .lines()
        .find(|l| l.trim_start().to_lowercase().starts_with(SHARE_PREFIX))
        .ok_or_else(|| ShareError::Unreadable {
            position,
            path: path.to_owned(),
            reason: format!("it holds no line starting with {SHARE_PREFIX}:"),
        })?;
    Ok(Zeroizing::new(line.to_owned()))
}

/// [`combine`] for `fuda recover --shares A,B`: each argument is a share or a file
/// holding one.
pub fn combine_args<S: AsRef<str>>(args: &[S]) -> Result<Identity, ShareError> {
    let shares = args
        .iter()
        .enumerate()
        .map(|(i, a)| share_arg(i + 1, a.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    combine(&shares.iter().map(|s| s.as_str()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_round_trip_to_the_same_identity() {
        let id = Identity::generate();
        let back = identity_from_bytes(&secret_bytes(&id)).unwrap();
        assert_eq!(back.to_public().to_string(), id.to_public().to_string());
    }

    #[test]
    fn splits_are_parsed_strictly() {
        assert_eq!(parse_split("2/3"), Ok((2, 3)));
        for bad in ["1/3", "3/2", "2", "a/b", "2/255", "0/0"] {
            assert!(parse_split(bad).is_err(), "{bad}");
        }
    }
}
