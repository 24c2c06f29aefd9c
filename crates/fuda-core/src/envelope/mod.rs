//! Protected files: the age v1 envelope.
//!
//! A protected file is a standard [age v1](https://c2sp.org/age) file:
//!
//! ```text
//! age-encryption.org/v1
//! -> X25519 …             file key wrapped to the key service
//! -> fuda/label <doc-id>  signed label + rights snapshot (no key inside)
//! -> X25519 …             file key wrapped to the organisation's recovery key
//! -> fuda/recovery age1…  which recovery recipients the header carries (no key inside)
//! --- <header MAC>
//! <16-byte nonce><STREAM payload: ChaCha20-Poly1305, 64 KiB chunks>
//! ```
//!
//! - [`header`]: the stanza grammar, canonical encoding and the header MAC;
//! - [`stream`]: the chunk-parallel STREAM payload and a seekable plaintext reader;
//! - [`x25519`]: wrapping the file key to age recipients, unwrapping it with identities;
//! - [`label_stanza`]: the `fuda/label` stanza.
//! - [`recovery`]: the organisation's recovery recipients in a header (`fuda/recovery`).
//! - [`encrypt_bytes`] / [`decrypt_bytes`]: the same format for small messages held in
//!   memory (the key service seals a file key to a user's age recipient with them).
//!
//! Any age X25519 identity among the recipients decrypts the file with `age -d` or
//! `rage -d`; those tools ignore the label stanza. The header, with the label and the doc
//! id, is readable without any key ([`Decryptor::header`], [`inspect`]); the header MAC,
//! keyed from the file key, stops anyone without that key from editing or swapping it.
//!
//! # Example
//!
//! ```
//! use fuda_core::envelope::{self, Decryptor, LabelStanza, StreamOptions};
//! use fuda_core::envelope::x25519::Identity;
//!
//! let recovery = Identity::generate();
//! let doc = "01J9ZK3Q2N8V4X6Y7T5R3P1M0A".parse().expect("a ULID");
//! let label = LabelStanza::new(doc, b"{\"level\":\"secret\"}".to_vec());
//! let mut file = Vec::new();
//! envelope::encrypt(&[recovery.to_public()], Some(&label), &b"drawing"[..], &mut file,
//!                   &StreamOptions::default())?;
//!
//! // Anyone can read the label…
//! let decryptor = Decryptor::new(&file[..])?;
//! assert_eq!(decryptor.header().label().unwrap().doc_id(), doc);
//! // …only a recipient can read the content.
//! let mut plaintext = Vec::new();
//! decryptor.decrypt_to(&recovery, &mut plaintext, &StreamOptions::default())?;
//! assert_eq!(plaintext, b"drawing");
//! # Ok::<(), envelope::Error>(())
//! ```
#![deny(missing_docs)]

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::fsutil::TempSibling;

pub mod header;
pub mod label_stanza;
pub mod recovery;
pub mod stream;
pub mod x25519;

pub use header::{Header, Stanza};
pub use label_stanza::LabelStanza;
pub use stream::{PayloadReader, StreamOptions};

/// Bytes in a file key.
pub const FILE_KEY_SIZE: usize = 16;

/// The 128-bit key of one file; zeroized when dropped, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; FILE_KEY_SIZE]);

impl FileKey {
    /// A fresh random file key.
    pub fn generate() -> Result<Self, Error> {
        let mut key = [0u8; FILE_KEY_SIZE];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| Error::Random)?;
        Ok(FileKey(key))
    }

    /// A file key from its bytes (for tests and key-service code that unwrapped it).
    pub fn from_bytes(bytes: [u8; FILE_KEY_SIZE]) -> Self {
        FileKey(bytes)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; FILE_KEY_SIZE] {
        &self.0
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

/// What is wrong with a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Nothing follows the nonce.
    #[error("the encrypted content is missing (nothing after the header): the file is truncated")]
    NoChunks,
    /// The payload ends without its final chunk.
    #[error("the encrypted content ends early: the file is truncated; restore it from a copy")]
    Truncated,
    /// Bytes follow the final chunk.
    #[error("data follows the end of the encrypted content: the file was extended or corrupted")]
    TrailingData,
    /// A chunk failed authentication.
    #[error(
        "chunk {index} of the encrypted content failed authentication: the file is corrupted \
         or was tampered with"
    )]
    ChunkAuth {
        /// Index of the chunk (64 KiB of plaintext each).
        index: u64,
    },
    /// A chunk is shorter than its tag.
    #[error(
        "chunk {index} of the encrypted content is too short: the file is truncated or corrupted"
    )]
    ShortChunk {
        /// Index of the chunk.
        index: u64,
    },
    /// The final chunk is empty though the content is not.
    #[error("the final chunk of the encrypted content is empty, which age forbids: the file is corrupted")]
    EmptyLastChunk,
    /// More chunks than the nonce counter can number.
    #[error("the content is too long for one envelope")]
    TooLong,
}

/// Errors of the envelope format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The header does not follow the age v1 grammar.
    #[error("invalid envelope header: {0}")]
    Header(String),
    /// The header is larger than the parser accepts.
    #[error("the envelope header is larger than {limit} bytes: the file is corrupted or hostile")]
    HeaderTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The file is an age file of another version.
    #[error("unsupported age version {0:?}: this build reads age-encryption.org/v1")]
    UnsupportedVersion(String),
    /// The file ends inside the 16-byte payload nonce.
    #[error("the file ends before the encrypted content starts: it is truncated")]
    MissingNonce,
    /// No identity opened any recipient stanza.
    #[error(
        "none of the given identities can open this file: use the identity of one of its \
         recipients (the key service or the organisation's recovery key)"
    )]
    NoMatchingIdentity,
    /// A recipient stanza meant for the identity is malformed.
    #[error("a recipient stanza is malformed: the file is corrupted or hostile")]
    InvalidRecipientStanza,
    /// A passphrase stanza asks for too much work.
    #[error("the passphrase stanza asks for scrypt work factor {work_factor}, which is too high")]
    ExcessiveWork {
        /// The requested log2(N).
        work_factor: u8,
    },
    /// The identity reported another error.
    #[error("the identity failed: {0}")]
    Identity(String),
    /// An identity file could not be read.
    #[error("cannot read identity file {path}: {reason}")]
    IdentityFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Wrapping the file key to a recipient failed.
    #[error("cannot wrap the file key to a recipient: {0}")]
    Recipient(String),
    /// No recipient was given.
    #[error("a protected file needs at least one recipient")]
    NoRecipients,
    /// The header MAC does not match.
    #[error(
        "the header MAC does not match: the header (recipients, label or document id) was \
         modified or comes from another file"
    )]
    HeaderMac,
    /// The payload is bad.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The label stanza's argument is not a document id (a ULID).
    #[error("{0:?} is not a document id (26 characters of Crockford base32, a ULID): the file is damaged or was crafted")]
    InvalidDocId(String),
    /// The output file already exists.
    #[error("{0} already exists and fuda never overwrites it: move, rename or remove it first")]
    OutputExists(PathBuf),
    /// The file's header changed while it was being replaced.
    #[error("{0} changed meanwhile (its header is not the one read): left as it is; try again")]
    HeaderChanged(PathBuf),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl Error {
    /// Adds the file name to the message of I/O errors and returns the result.
    fn in_file(self, path: &Path) -> Error {
        match self {
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            other => other,
        }
    }
}

fn random_nonce() -> Result<[u8; stream::NONCE_SIZE], Error> {
    let mut nonce = [0u8; stream::NONCE_SIZE];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Random)?;
    Ok(nonce)
}

/// Encrypts `input` to `recipients` (and attaches `label`), writing a complete envelope to
/// `output`. Returns the header written.
pub fn encrypt<R: Read, W: Write>(
    recipients: &[x25519::Recipient],
    label: Option<&LabelStanza>,
    input: R,
    output: W,
    opts: &StreamOptions,
) -> Result<Header, Error> {
    let (file_key, header) = new_header(recipients, label)?;
    encrypt_with_header(&file_key, &header, input, output, opts)?;
    Ok(header)
}

/// A fresh file key and the header that wraps it to `recipients` (with `label`), before
/// any content: for a caller that must have the header vetted (the key service completes
/// it with the recovery stanzas) before writing the file with [`encrypt_with_header`].
pub fn new_header(
    recipients: &[x25519::Recipient],
    label: Option<&LabelStanza>,
) -> Result<(FileKey, Header), Error> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    let file_key = FileKey::generate()?;
    let mut stanzas = recipients
        .iter()
        .map(|r| x25519::wrap(&file_key, r))
        .collect::<Result<Vec<_>, _>>()?;
    stanzas.extend(label.map(LabelStanza::to_stanza));
    let header = Header::new(stanzas, &file_key)?;
    Ok((file_key, header))
}

/// Writes a complete envelope: `header`, a fresh nonce and `input` encrypted with
/// `file_key`. The header's MAC is checked with `file_key` first ([`Error::HeaderMac`]:
/// nothing is written), so a header altered by anyone without the key is never used.
pub fn encrypt_with_header<R: Read, W: Write>(
    file_key: &FileKey,
    header: &Header,
    input: R,
    mut output: W,
    opts: &StreamOptions,
) -> Result<(), Error> {
    header.verify_mac(file_key)?;
    let nonce = random_nonce()?;
    header.write(&mut output)?;
    output.write_all(&nonce)?;
    stream::encrypt_payload(file_key, &nonce, input, output, opts)?;
    Ok(())
}

/// Encrypts a small message held in memory (a file key sealed to a user, a token) to
/// `recipients` as a standard age file without a label: what `age -e -r …` writes, and
/// what [`decrypt_bytes`], `age -d` and the `age` crate open.
///
/// Runs on the calling thread with one chunk of buffer: meant for messages of a few bytes
/// to a few KiB (any length works).
pub fn encrypt_bytes(recipients: &[x25519::Recipient], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let one_chunk = StreamOptions {
        threads: 1,
        batch_chunks: 1,
    };
    let mut file = Vec::with_capacity(plaintext.len() + 128 + 96 * recipients.len());
    encrypt(recipients, None, plaintext, &mut file, &one_chunk)?;
    Ok(file)
}

/// Decrypts an age file held in memory with the first of `identities` that opens it, all
/// or nothing: the whole plaintext (wiped when dropped), or an error and no plaintext.
///
/// The header MAC and every chunk are checked, as by [`Decryptor`]; a label stanza, if
/// any, is allowed and ignored. For small messages (see [`encrypt_bytes`]).
pub fn decrypt_bytes<'a>(
    file: &[u8],
    identities: impl IntoIterator<Item = &'a dyn age::Identity>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let (header, len) = Header::parse_bytes(file)?;
    let rest = &file[len..];
    let nonce: &[u8; stream::NONCE_SIZE] = rest
        .get(..stream::NONCE_SIZE)
        .and_then(|n| n.try_into().ok())
        .ok_or(Error::MissingNonce)?;
    let file_key = x25519::unwrap(header.stanzas(), identities)?;
    header.verify_mac(&file_key)?;
    stream::decrypt_in_memory(&file_key, nonce, &rest[stream::NONCE_SIZE..])
}

/// Reads an envelope: the header first (no key needed), then the content with a key.
pub struct Decryptor<R> {
    input: BufReader<R>,
    header: Header,
    nonce: [u8; stream::NONCE_SIZE],
}

impl<R: Read> Decryptor<R> {
    /// Parses the header and reads the payload nonce.
    pub fn new(input: R) -> Result<Self, Error> {
        let mut input = BufReader::with_capacity(16 * 1024, input);
        let header = Header::parse(&mut input)?;
        let mut nonce = [0u8; stream::NONCE_SIZE];
        input.read_exact(&mut nonce).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::MissingNonce,
            _ => Error::Io(e),
        })?;
        Ok(Decryptor {
            input,
            header,
            nonce,
        })
    }

    /// The header: recipients and label, readable without any key.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Unwraps the file key with `identity` and checks the header MAC with it.
    pub fn unwrap_file_key(&self, identity: &dyn age::Identity) -> Result<FileKey, Error> {
        self.unwrap_file_key_any([identity])
    }

    /// Like [`Decryptor::unwrap_file_key`], trying each identity in turn.
    pub fn unwrap_file_key_any<'a>(
        &self,
        identities: impl IntoIterator<Item = &'a dyn age::Identity>,
    ) -> Result<FileKey, Error> {
        let file_key = x25519::unwrap(self.header.stanzas(), identities)?;
        self.header.verify_mac(&file_key)?;
        Ok(file_key)
    }

    /// A streaming (and, for seekable inputs, seekable) reader of the plaintext.
    ///
    /// `file_key` must come from [`Decryptor::unwrap_file_key`] (or a key service that
    /// checked the MAC); it is checked against the header MAC again here.
    pub fn into_reader(
        self,
        file_key: &FileKey,
        opts: &StreamOptions,
    ) -> Result<PayloadReader<BufReader<R>>, Error> {
        self.header.verify_mac(file_key)?;
        Ok(PayloadReader::new(file_key, &self.nonce, self.input, opts))
    }

    /// Unwraps with `identity` and returns the plaintext reader.
    pub fn unwrap_with(
        self,
        identity: &dyn age::Identity,
    ) -> Result<PayloadReader<BufReader<R>>, Error> {
        let file_key = self.unwrap_file_key(identity)?;
        self.into_reader(&file_key, &StreamOptions::default())
    }

    /// Decrypts the whole content into `output` with `file_key`, chunk-parallel.
    /// Returns the plaintext length.
    ///
    /// On error, `output` holds the plaintext of the chunks before the bad one.
    pub fn decrypt_with_key<W: Write>(
        self,
        file_key: &FileKey,
        output: W,
        opts: &StreamOptions,
    ) -> Result<u64, Error> {
        self.header.verify_mac(file_key)?;
        stream::decrypt_payload(file_key, &self.nonce, self.input, output, opts)
    }

    /// Unwraps with `identity` and decrypts the whole content into `output`.
    pub fn decrypt_to<W: Write>(
        self,
        identity: &dyn age::Identity,
        output: W,
        opts: &StreamOptions,
    ) -> Result<u64, Error> {
        let file_key = self.unwrap_file_key(identity)?;
        self.decrypt_with_key(&file_key, output, opts)
    }

    /// The payload nonce.
    pub fn nonce(&self) -> &[u8; stream::NONCE_SIZE] {
        &self.nonce
    }
}

/// Writes `header`, then copies the nonce and payload from `decryptor` untouched.
///
/// Used for rewrap (key rotation, adding a recovery key, replacing the label): build the
/// new header with [`Header::rewrap`], then call this.
pub fn write_with_header<R: Read, W: Write>(
    decryptor: Decryptor<R>,
    header: &Header,
    mut output: W,
) -> Result<u64, Error> {
    header.write(&mut output)?;
    output.write_all(&decryptor.nonce)?;
    let mut input = decryptor.input;
    let n = io::copy(&mut input, &mut output)?;
    output.flush()?;
    Ok(n)
}

/// Replaces the header `old` of the protected file at `path` with `new`, atomically: the
/// new header and the untouched nonce and payload go to a temporary file (0600) that then
/// takes the file's place, so a failure leaves the file as it was. Returns the payload
/// length. Refuses ([`Error::HeaderChanged`]) if the file no longer starts with `old`
/// (someone replaced it meanwhile). The caller vouches for `new` (e.g. the key service
/// made it from `old`), since checking its MAC needs the file key.
pub fn replace_header(path: &Path, old: &Header, new: &Header) -> Result<u64, Error> {
    let decryptor = Decryptor::new(open(path)?).map_err(|e| e.in_file(path))?;
    if decryptor.header() != old {
        return Err(Error::HeaderChanged(path.to_owned()));
    }
    write_atomically(path, true, |out| write_with_header(decryptor, new, out))
}

/// Rewraps a protected file: `edit` changes the stanza list (drop recipients, add
/// [`x25519::wrap`]ped ones, replace the label), the MAC is recomputed, and the nonce and
/// payload are copied byte for byte. `file_key` must open the current header.
pub fn rewrap<R: Read, W: Write>(
    input: R,
    file_key: &FileKey,
    edit: impl FnOnce(&mut Vec<Stanza>) -> Result<(), Error>,
    output: W,
) -> Result<Header, Error> {
    let decryptor = Decryptor::new(input)?;
    let mut stanzas = decryptor.header().stanzas().to_vec();
    edit(&mut stanzas)?;
    let header = decryptor.header().rewrap(file_key, stanzas)?;
    write_with_header(decryptor, &header, output)?;
    Ok(header)
}

/// Opens `path` (of any length, see [`crate::longpath`]) for reading.
fn open(path: &Path) -> Result<fs::File, Error> {
    crate::longpath::reach(path)
        .and_then(fs::File::open)
        .map_err(|e| Error::Io(e).in_file(path))
}

/// Writes a file atomically: `write` fills a temporary file (mode 0600, unnamed where the
/// file system allows: [`TempSibling`]) in the same directory, which is synced and put at
/// `dst` only if `write` succeeds. On any error the temporary file is gone and `dst` is
/// untouched.
pub fn write_atomically<T>(
    dst: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut io::BufWriter<&fs::File>) -> Result<T, Error>,
) -> Result<T, Error> {
    if !overwrite && crate::longpath::metadata(dst).is_ok() {
        return Err(Error::OutputExists(dst.to_owned()));
    }
    let mut tmp = TempSibling::new(dst, 0o600).map_err(|e| Error::Io(e).in_file(dst))?;
    let value = {
        crate::crashpoint::reached(crate::crashpoint::Step::Write);
        let mut out = io::BufWriter::with_capacity(1 << 20, &*tmp.file());
        let value = write(&mut out)?;
        out.flush().map_err(|e| Error::Io(e).in_file(dst))?;
        value
    };
    let placed = if overwrite {
        tmp.commit(dst)
    } else {
        tmp.commit_new(dst)
    };
    placed.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Error::OutputExists(dst.to_owned()),
        _ => Error::Io(e).in_file(dst),
    })?;
    Ok(value)
}

/// Decrypts the protected file `src` into `dst` atomically: plaintext goes to a temp file
/// (0600) next to `dst` and is renamed only after the whole payload authenticated, so a
/// corrupted or truncated file leaves nothing at `dst`. Returns the plaintext length.
pub fn decrypt_to_path<'a>(
    src: &Path,
    identities: impl IntoIterator<Item = &'a dyn age::Identity>,
    dst: &Path,
    overwrite: bool,
    opts: &StreamOptions,
) -> Result<u64, Error> {
    let file = open(src)?;
    let decryptor = Decryptor::new(file).map_err(|e| e.in_file(src))?;
    let file_key = decryptor.unwrap_file_key_any(identities)?;
    write_atomically(dst, overwrite, |out| {
        decryptor.decrypt_with_key(&file_key, out, opts)
    })
}

/// Encrypts `src` into the protected file `dst` atomically (temp file + rename), with a
/// header made by [`new_header`] (and maybe completed since) for `file_key`.
pub fn encrypt_to_path_with_header(
    src: &Path,
    file_key: &FileKey,
    header: &Header,
    dst: &Path,
    opts: &StreamOptions,
) -> Result<(), Error> {
    let input = open(src)?;
    write_atomically(dst, false, |out| {
        encrypt_with_header(file_key, header, input, out, opts)
    })
}

/// Encrypts `src` into the protected file `dst` atomically (temp file + rename).
pub fn encrypt_to_path(
    src: &Path,
    recipients: &[x25519::Recipient],
    label: Option<&LabelStanza>,
    dst: &Path,
    overwrite: bool,
    opts: &StreamOptions,
) -> Result<Header, Error> {
    let input = open(src)?;
    write_atomically(dst, overwrite, |out| {
        encrypt(recipients, label, input, out, opts)
    })
}

/// `fuda recover`: decrypts `src` with the identities in `identity_file` (the
/// organisation's break-glass key) into `dst`, atomically. Returns the plaintext length.
pub fn recover(
    src: &Path,
    identity_file: &Path,
    dst: &Path,
    overwrite: bool,
) -> Result<u64, Error> {
    let identities = x25519::read_identity_file(identity_file)?;
    decrypt_to_path(
        src,
        identities.iter().map(|i| i.as_ref()),
        dst,
        overwrite,
        &StreamOptions::default(),
    )
}

/// `fuda recover --shares`: decrypts `src` with `identity` (the recovery key put back
/// together from its shares) into `dst`, atomically. Returns the plaintext length.
pub fn recover_with_identity(
    src: &Path,
    identity: &x25519::Identity,
    dst: &Path,
    overwrite: bool,
) -> Result<u64, Error> {
    decrypt_to_path(
        src,
        [identity as &dyn age::Identity],
        dst,
        overwrite,
        &StreamOptions::default(),
    )
}

/// The file extension of protected files.
pub const EXTENSION: &str = "fuda";

/// The protected name of `path`: `plan.xlsx` → `plan.xlsx.fuda`.
pub fn protected_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(EXTENSION);
    PathBuf::from(name)
}

/// The default output of `fuda recover`: `plan.xlsx.fuda` → `plan.xlsx`; `None` if the
/// name does not end in `.fuda` (then the caller must ask for `--out`).
pub fn plaintext_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".fuda").filter(|s| !s.is_empty())?;
    Some(path.with_file_name(stem))
}

/// A summary of one header, for `fuda inspect` (human or `--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderSummary {
    /// Always `age-encryption.org/v1`.
    pub version: &'static str,
    /// Every stanza, in file order.
    pub stanzas: Vec<StanzaSummary>,
    /// The label stanza, if any.
    pub label: Option<LabelSummary>,
    /// The header MAC, base64 (not verified: that needs the file key).
    pub mac: String,
}

/// One stanza in a [`HeaderSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StanzaSummary {
    /// The stanza type (`X25519`, `fuda/label`, …).
    pub tag: String,
    /// Its arguments (for `X25519`, the ephemeral share: not the recipient).
    pub args: Vec<String>,
    /// Body length in bytes.
    pub body_len: usize,
}

/// The label stanza in a [`HeaderSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelSummary {
    /// The document id.
    pub doc_id: String,
    /// The body as text, when it is UTF-8 (the signed label record is JSON).
    pub body_text: Option<String>,
    /// The body, base64.
    pub body_base64: String,
}

impl Header {
    /// The summary `fuda inspect` shows.
    pub fn summary(&self) -> HeaderSummary {
        HeaderSummary {
            version: header::VERSION_LINE,
            stanzas: self
                .stanzas()
                .iter()
                .map(|s| StanzaSummary {
                    tag: s.tag.clone(),
                    args: s.args.clone(),
                    body_len: s.body.len(),
                })
                .collect(),
            label: self.label().map(|l| LabelSummary {
                doc_id: l.doc_id().to_string(),
                body_text: std::str::from_utf8(l.body()).ok().map(str::to_owned),
                body_base64: STANDARD.encode(l.body()),
            }),
            mac: STANDARD.encode(self.mac()),
        }
    }
}

/// `fuda inspect`: the header summary of the protected file at `path`, without any key.
pub fn inspect(path: &Path) -> Result<HeaderSummary, Error> {
    let mut input = BufReader::new(open(path)?);
    let header = Header::parse(&mut input).map_err(|e| e.in_file(path))?;
    Ok(header.summary())
}
