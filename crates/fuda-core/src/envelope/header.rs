//! The age v1 header: stanza grammar, canonical encoding and the header MAC.
//!
//! ```text
//! age-encryption.org/v1
//! -> X25519 <base64 share>
//! <base64 body, 64 columns per line, last line shorter (maybe empty)>
//! -> fuda/label <doc-id>
//! <base64 body>
//! --- <base64 HMAC-SHA-256>
//! ```
//!
//! The parser accepts only the canonical encoding (unpadded standard base64 with zero
//! trailing bits, full body lines of exactly 64 columns, `\n` line ends), so a header
//! that parses writes back to exactly the same bytes. It reads nothing beyond the MAC
//! line, and it stops with [`Error::HeaderTooLarge`] before a hostile header can make it
//! allocate more than [`MAX_HEADER_BYTES`].

use std::io::{BufRead, Write};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::{hkdf, hmac};

use super::label_stanza::{LabelStanza, LABEL_TAG};
use super::{Error, FileKey};

/// The first line of every age v1 file.
pub const VERSION_LINE: &str = "age-encryption.org/v1";

/// Largest header (version line to MAC line, inclusive) the parser accepts: 1 MiB.
///
/// A fuda header holds two or three recipient stanzas and one label stanza of a few KiB;
/// the limit only exists so that a hostile file cannot make a reader allocate without
/// bound.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Largest number of stanzas the parser accepts.
pub const MAX_STANZAS: usize = 1024;

/// Base64 columns per full body line.
const COLUMNS: usize = 64;

/// Length of the header MAC.
pub const MAC_LEN: usize = 32;

/// One stanza of an age header: a tag, arguments and an opaque body.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Stanza {
    /// The stanza type, e.g. `X25519` or `fuda/label`.
    pub tag: String,
    /// The arguments after the tag.
    pub args: Vec<String>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Stanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stanza")
            .field("tag", &self.tag)
            .field("args", &self.args)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Stanza {
    /// Checks that the tag and every argument are non-empty strings of visible ASCII
    /// characters (`1*VCHAR`), the only thing a stanza line may hold.
    pub fn validate(&self) -> Result<(), Error> {
        if !is_arbitrary_string(self.tag.as_bytes()) {
            return Err(Error::Header(format!(
                "stanza tag {:?} must be 1 or more visible ASCII characters",
                self.tag
            )));
        }
        for arg in &self.args {
            if !is_arbitrary_string(arg.as_bytes()) {
                return Err(Error::Header(format!(
                    "argument {arg:?} of stanza {:?} must be 1 or more visible ASCII characters",
                    self.tag
                )));
            }
        }
        Ok(())
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"-> ");
        out.extend_from_slice(self.tag.as_bytes());
        for arg in &self.args {
            out.push(b' ');
            out.extend_from_slice(arg.as_bytes());
        }
        out.push(b'\n');
        let encoded = STANDARD_NO_PAD.encode(&self.body);
        let mut rest = encoded.as_bytes();
        loop {
            let n = rest.len().min(COLUMNS);
            out.extend_from_slice(&rest[..n]);
            out.push(b'\n');
            rest = &rest[n..];
            if n < COLUMNS {
                break;
            }
        }
    }

    pub(crate) fn to_age(&self) -> age_core::format::Stanza {
        age_core::format::Stanza {
            tag: self.tag.clone(),
            args: self.args.clone(),
            body: self.body.clone(),
        }
    }

    pub(crate) fn from_age(stanza: age_core::format::Stanza) -> Self {
        Stanza {
            tag: stanza.tag,
            args: stanza.args,
            body: stanza.body,
        }
    }
}

/// A parsed age v1 header: the stanzas and the header MAC.
///
/// The header is readable without any key; [`Header::verify_mac`] needs the file key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    stanzas: Vec<Stanza>,
    mac: [u8; MAC_LEN],
}

fn is_arbitrary_string(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Reads one `\n`-terminated line (without the `\n`), charging it to `budget`.
fn read_line<R: BufRead + ?Sized>(reader: &mut R, budget: &mut usize) -> Result<Vec<u8>, Error> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Err(Error::Header(
                "the header ends before its MAC line: the file is truncated or not an age file"
                    .into(),
            ));
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if take > *budget {
            return Err(Error::HeaderTooLarge {
                limit: MAX_HEADER_BYTES,
            });
        }
        *budget -= take;
        line.extend_from_slice(&available[..if done { take - 1 } else { take }]);
        reader.consume(take);
        if done {
            return Ok(line);
        }
    }
}

fn decode_canonical(text: &[u8], what: &str) -> Result<Vec<u8>, Error> {
    // The base64 engine rejects padding, non-alphabet characters and non-zero trailing
    // bits, which is exactly age's "canonical unpadded base64".
    STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| Error::Header(format!("{what} is not canonical unpadded base64: {e}")))
}

impl Header {
    /// Builds a header for `stanzas` and computes its MAC with `file_key`.
    pub fn new(stanzas: Vec<Stanza>, file_key: &FileKey) -> Result<Self, Error> {
        if stanzas.len() > MAX_STANZAS {
            return Err(Error::HeaderTooLarge {
                limit: MAX_HEADER_BYTES,
            });
        }
        for s in &stanzas {
            s.validate()?;
        }
        let mut header = Header {
            stanzas,
            mac: [0; MAC_LEN],
        };
        header.check_fuda_rules()?;
        let prefix = header.mac_input();
        if prefix.len() + 48 > MAX_HEADER_BYTES {
            return Err(Error::HeaderTooLarge {
                limit: MAX_HEADER_BYTES,
            });
        }
        header.mac = compute_mac(file_key, &prefix);
        Ok(header)
    }

    /// Parses a header from `reader`, consuming exactly the header bytes (through the
    /// `\n` after the MAC) and nothing of the payload that follows.
    pub fn parse<R: BufRead + ?Sized>(reader: &mut R) -> Result<Self, Error> {
        let mut budget = MAX_HEADER_BYTES;
        let version = read_line(reader, &mut budget)?;
        if version != VERSION_LINE.as_bytes() {
            if version.starts_with(b"age-encryption.org/") {
                return Err(Error::UnsupportedVersion(
                    String::from_utf8_lossy(&version).into_owned(),
                ));
            }
            return Err(Error::Header(
                "the file does not start with \"age-encryption.org/v1\": it is not an age/fuda \
                 file (or it is ASCII-armored)"
                    .into(),
            ));
        }
        let mut stanzas = Vec::new();
        let mut line = read_line(reader, &mut budget)?;
        loop {
            if let Some(rest) = line.strip_prefix(b"-> ") {
                if stanzas.len() == MAX_STANZAS {
                    return Err(Error::HeaderTooLarge {
                        limit: MAX_HEADER_BYTES,
                    });
                }
                let mut parts = Vec::new();
                for part in rest.split(|&b| b == b' ') {
                    if !is_arbitrary_string(part) {
                        return Err(Error::Header(
                            "a stanza line has an empty argument or a character outside \
                             visible ASCII"
                                .into(),
                        ));
                    }
                    // Checked above: visible ASCII is valid UTF-8.
                    parts.push(String::from_utf8_lossy(part).into_owned());
                }
                let tag = parts.remove(0);
                let mut encoded = Vec::new();
                loop {
                    let body_line = read_line(reader, &mut budget)?;
                    if body_line.len() > COLUMNS {
                        return Err(Error::Header(format!(
                            "a body line of stanza {tag:?} is longer than 64 columns"
                        )));
                    }
                    let last = body_line.len() < COLUMNS;
                    encoded.extend_from_slice(&body_line);
                    if last {
                        break;
                    }
                }
                let body = decode_canonical(&encoded, &format!("the body of stanza {tag:?}"))?;
                stanzas.push(Stanza {
                    tag,
                    args: parts,
                    body,
                });
                line = read_line(reader, &mut budget)?;
            } else if let Some(rest) = line.strip_prefix(b"--- ") {
                if rest.len() != 43 {
                    return Err(Error::Header(
                        "the header MAC line must hold 43 base64 characters".into(),
                    ));
                }
                let mac = decode_canonical(rest, "the header MAC")?;
                let mac: [u8; MAC_LEN] = mac
                    .try_into()
                    .map_err(|_| Error::Header("the header MAC must be 32 bytes".into()))?;
                let header = Header { stanzas, mac };
                header.check_fuda_rules()?;
                return Ok(header);
            } else {
                return Err(Error::Header(
                    "expected a stanza line (\"-> …\") or the MAC line (\"--- …\")".into(),
                ));
            }
        }
    }

    /// Parses a header at the start of `bytes`; returns it and its length in bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<(Self, usize), Error> {
        let mut cursor = bytes;
        let header = Header::parse(&mut cursor)?;
        Ok((header, bytes.len() - cursor.len()))
    }

    /// fuda's own rules on top of age's: at most one label stanza, with one argument.
    fn check_fuda_rules(&self) -> Result<(), Error> {
        let mut labels = self.stanzas.iter().filter(|s| s.tag == LABEL_TAG);
        if let Some(label) = labels.next() {
            LabelStanza::from_stanza(label).map_err(|e| match e {
                Error::InvalidDocId(id) => Error::Header(format!(
                    "the {LABEL_TAG} stanza names {id:?}, which is not a document id (a ULID): the file is damaged or was crafted"
                )),
                other => other,
            })?;
            if labels.next().is_some() {
                return Err(Error::Header(format!(
                    "the header holds more than one {LABEL_TAG} stanza"
                )));
            }
        }
        Ok(())
    }

    /// The stanzas, in file order.
    pub fn stanzas(&self) -> &[Stanza] {
        &self.stanzas
    }

    /// The header MAC as stored in the file.
    pub fn mac(&self) -> &[u8; MAC_LEN] {
        &self.mac
    }

    /// The `fuda/label` stanza, if the header has one.
    pub fn label(&self) -> Option<LabelStanza> {
        self.stanzas
            .iter()
            .find(|s| s.tag == LABEL_TAG)
            .and_then(|s| LabelStanza::from_stanza(s).ok())
    }

    /// The bytes the MAC covers: the header up to and including `---`.
    fn mac_input(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.stanzas.len() * 128);
        out.extend_from_slice(VERSION_LINE.as_bytes());
        out.push(b'\n');
        for stanza in &self.stanzas {
            stanza.encode_into(&mut out);
        }
        out.extend_from_slice(b"---");
        out
    }

    /// The canonical encoding of the header, ending with the `\n` after the MAC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.mac_input();
        out.push(b' ');
        out.extend_from_slice(STANDARD_NO_PAD.encode(self.mac).as_bytes());
        out.push(b'\n');
        out
    }

    /// Writes the canonical encoding of the header.
    pub fn write<W: Write + ?Sized>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&self.to_bytes())
    }

    /// Checks the header MAC with `file_key`, in constant time.
    ///
    /// Fails with [`Error::HeaderMac`] if any stanza (recipients, label, doc id) was
    /// changed, added or removed, or if the key belongs to another file.
    pub fn verify_mac(&self, file_key: &FileKey) -> Result<(), Error> {
        let key = mac_key(file_key);
        hmac::verify(&key, &self.mac_input(), &self.mac).map_err(|_| Error::HeaderMac)
    }

    /// Returns a header with `stanzas` in place of the current ones and a fresh MAC.
    ///
    /// `file_key` must be this file's key (checked against the current MAC first), so a
    /// rewrapped header always matches the untouched payload.
    pub fn rewrap(&self, file_key: &FileKey, stanzas: Vec<Stanza>) -> Result<Header, Error> {
        self.verify_mac(file_key)?;
        Header::new(stanzas, file_key)
    }
}

fn mac_key(file_key: &FileKey) -> hmac::Key {
    // HMAC key = HKDF-SHA-256(ikm = file key, salt = empty, info = "header").
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(file_key.expose());
    let okm = prk
        .expand(&[b"header"], hmac::HMAC_SHA256)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    hmac::Key::from(okm)
}

fn compute_mac(file_key: &FileKey, input: &[u8]) -> [u8; MAC_LEN] {
    let tag = hmac::sign(&mac_key(file_key), input);
    let mut mac = [0; MAC_LEN];
    mac.copy_from_slice(tag.as_ref());
    mac
}
