//! The STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks, exactly as age writes it.
//!
//! ```text
//! payload key = HKDF-SHA-256(salt = 16-byte nonce, ikm = file key, info = "payload")
//! chunk i     = ChaCha20-Poly1305(payload key, nonce = i as 11-byte big-endian ‖ last, chunk)
//! ```
//!
//! Every chunk holds 64 KiB of plaintext except the last, which holds 1 to 64 KiB (0 only
//! when the whole payload is empty) and is sealed with the last-chunk flag `0x01`.
//!
//! Chunks are independent, so both directions work in batches of `batch_chunks` chunks:
//! the calling thread reads and writes batches in order while one worker thread per core
//! seals or opens whole batches. Memory stays bounded by `2 × workers + 1` batches
//! whatever the file size (about 10 MiB encrypting, 20 MiB decrypting on two cores with
//! the default 2 MiB batches). [`StreamOptions::sequential`] runs the same code on the
//! calling thread only; both paths produce identical bytes.
//!
//! Decryption releases plaintext only after its chunk authenticated, in order, and stops at
//! the first bad chunk; what was released before is exactly what Go `age` releases
//! (the C2SP test vectors check this). Callers that must not leave partial plaintext
//! behind write to a temporary file (see [`super::decrypt_to_path`]).

use std::collections::BTreeMap;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::sync::{mpsc, Mutex};

use rayon::prelude::*;
use ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey, CHACHA20_POLY1305};
use ring::hkdf;
use zeroize::{Zeroize as _, Zeroizing};

use super::{Error, FileKey, PayloadError};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Poly1305 tag bytes per chunk.
pub const TAG_SIZE: usize = 16;
/// Ciphertext bytes per full chunk.
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_SIZE;
/// Bytes of the random nonce between the header and the first chunk.
pub const NONCE_SIZE: usize = 16;

/// How a payload is processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Worker threads: `0` uses one per core, `1` runs on the calling thread only, `n`
    /// starts `n` workers for the call. (The pull [`PayloadReader`] opens each batch on
    /// rayon's global pool unless this is `1`.)
    pub threads: usize,
    /// Chunks per batch (default 32, i.e. 2 MiB). Larger batches amortise thread hand-offs;
    /// memory use is about `batch_chunks × 64 KiB × 8`.
    pub batch_chunks: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            threads: 0,
            batch_chunks: 32,
        }
    }
}

impl StreamOptions {
    /// Single-threaded processing on the calling thread.
    pub fn sequential() -> Self {
        StreamOptions {
            threads: 1,
            ..StreamOptions::default()
        }
    }

    fn batch(&self) -> usize {
        self.batch_chunks.clamp(1, 1024)
    }
}

/// The payload key and nonce schedule of one file.
pub(crate) struct PayloadKey(LessSafeKey);

impl PayloadKey {
    /// Derives the payload key from the file key and the payload nonce.
    pub fn new(file_key: &FileKey, nonce: &[u8; NONCE_SIZE]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, nonce).extract(file_key.expose());
        let okm = prk
            .expand(&[b"payload"], &CHACHA20_POLY1305)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        PayloadKey(LessSafeKey::new(UnboundKey::from(okm)))
    }

    fn seal(&self, index: u64, last: bool, chunk: &mut [u8]) -> Result<Tag, Error> {
        self.0
            .seal_in_place_separate_tag(chunk_nonce(index, last), Aad::empty(), chunk)
            .map_err(|_| Error::Payload(PayloadError::TooLong))
    }

    /// Opens the chunk (ciphertext ‖ tag) at `slot[CHUNK_SIZE..]` into `slot[..len]`.
    ///
    /// ring decrypts out of place in one pass here, and on failure wipes only the output,
    /// so the ciphertext stays intact for a second attempt with the other flag.
    fn open_slot(&self, index: u64, last: bool, slot: &mut [u8]) -> bool {
        self.0
            .open_within(chunk_nonce(index, last), Aad::empty(), slot, CHUNK_SIZE..)
            .is_ok()
    }
}

fn chunk_nonce(index: u64, last: bool) -> Nonce {
    // 11-byte big-endian counter (the top three bytes stay zero: 2^64 chunks is 1 ZiB)
    // followed by the last-chunk flag.
    let mut n = [0u8; aead::NONCE_LEN];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads chunk-sized pieces and tells which one is the last, looking one byte ahead only
/// at batch ends.
struct ChunkSource<R> {
    inner: R,
    /// A byte read ahead to learn that the input did not end.
    pending: Option<u8>,
    /// Bytes pulled from `inner` so far.
    consumed: u64,
}

impl<R: Read> ChunkSource<R> {
    fn new(inner: R) -> Self {
        ChunkSource {
            inner,
            pending: None,
            consumed: 0,
        }
    }

    fn read_piece(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if let Some(b) = self.pending.take() {
            if let Some(first) = buf.first_mut() {
                *first = b;
                n = 1;
            }
        }
        let k = read_full(&mut self.inner, &mut buf[n..])?;
        self.consumed += k as u64;
        Ok(n + k)
    }

    /// True if the input has ended (nothing pending and nothing more to read).
    fn at_eof(&mut self) -> io::Result<bool> {
        if self.pending.is_some() {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        if read_full(&mut self.inner, &mut b)? == 0 {
            Ok(true)
        } else {
            self.consumed += 1;
            self.pending = Some(b[0]);
            Ok(false)
        }
    }

    /// Fills up to `max` pieces of `stride` bytes (each read up to `piece` bytes).
    /// Returns (lengths, input ended after the last piece).
    fn fill(
        &mut self,
        buf: &mut [u8],
        stride: usize,
        piece: usize,
        max: usize,
        lens: &mut Vec<usize>,
    ) -> io::Result<bool> {
        lens.clear();
        for i in 0..max {
            let n = self.read_piece(&mut buf[i * stride..i * stride + piece])?;
            if n == 0 {
                // The previous piece (if any) was the last one.
                return Ok(true);
            }
            lens.push(n);
            if n < piece {
                return Ok(true);
            }
        }
        self.at_eof()
    }
}

/// Worker threads for `opts`: `None` means "run on the calling thread".
fn workers(opts: &StreamOptions) -> Option<usize> {
    match opts.threads {
        1 => None,
        0 => Some(std::thread::available_parallelism().map_or(1, |n| n.get())).filter(|&n| n > 1),
        n => Some(n),
    }
}

/// Runs `fill → process → drain` over a few rotating batch buffers.
///
/// The calling thread fills and drains (so the reader and writer need not be `Send`);
/// `workers` threads each process whole batches; batches are drained in input order.
/// Memory: `2 × workers + 1` buffers. `fill` returns true when it filled the last batch;
/// `drain` returns false to stop early.
fn pipeline<B: Send>(
    workers: usize,
    make: impl Fn() -> B,
    mut fill: impl FnMut(&mut B) -> Result<bool, Error>,
    process: impl Fn(&mut B) + Sync,
    mut drain: impl FnMut(&mut B) -> Result<bool, Error>,
) -> Result<(), Error> {
    let depth = 2 * workers + 1;
    let mut free: Vec<B> = (0..depth).map(|_| make()).collect();
    let stopped = || Error::Io(io::Error::other("a worker thread stopped"));
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, B)>(depth);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, B)>(depth);
    std::thread::scope(|scope| {
        for i in 0..workers {
            let (done_tx, work_rx, process) = (done_tx.clone(), &work_rx, &process);
            std::thread::Builder::new()
                .name(format!("fuda-stream-{i}"))
                .spawn_scoped(scope, move || loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok((seq, mut batch)) = job else { break };
                    process(&mut batch);
                    if done_tx.send((seq, batch)).is_err() {
                        break;
                    }
                })
                .map_err(Error::Io)?;
        }
        drop(done_tx);
        let mut waiting: BTreeMap<u64, B> = BTreeMap::new();
        let (mut next_fill, mut next_drain) = (0u64, 0u64);
        let mut input_done = false;
        let result = loop {
            if let Some(mut batch) = waiting.remove(&next_drain) {
                next_drain += 1;
                match drain(&mut batch) {
                    Ok(true) => {
                        free.push(batch);
                        continue;
                    }
                    Ok(false) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
            if !input_done {
                if let Some(mut batch) = free.pop() {
                    match fill(&mut batch) {
                        Ok(last) => input_done = last,
                        Err(e) => break Err(e),
                    }
                    if work_tx.send((next_fill, batch)).is_err() {
                        break Err(stopped());
                    }
                    next_fill += 1;
                    continue;
                }
            }
            if next_drain == next_fill {
                break Ok(());
            }
            match done_rx.recv() {
                Ok((seq, batch)) => {
                    waiting.insert(seq, batch);
                }
                Err(_) => break Err(stopped()),
            }
        };
        drop(work_tx);
        result
    })
}

// ---------------------------------------------------------------------------------------
// Encryption

struct SealBatch {
    /// `count` slots of ENCRYPTED_CHUNK_SIZE: plaintext in, chunk ‖ tag out.
    buf: Vec<u8>,
    lens: Vec<usize>,
    first: u64,
    last_is_final: bool,
    error: Option<Error>,
}

impl SealBatch {
    fn new(chunks: usize) -> Self {
        SealBatch {
            buf: vec![0; chunks * ENCRYPTED_CHUNK_SIZE],
            lens: Vec::with_capacity(chunks),
            first: 0,
            last_is_final: false,
            error: None,
        }
    }

    fn seal(&mut self, key: &PayloadKey) {
        let count = self.lens.len();
        let (first, last_is_final, lens) = (self.first, self.last_is_final, &self.lens);
        let seal_one = |(i, slot): (usize, &mut [u8])| -> Result<(), Error> {
            let len = lens[i];
            let last = last_is_final && i + 1 == count;
            let tag = key.seal(first + i as u64, last, &mut slot[..len])?;
            slot[len..len + TAG_SIZE].copy_from_slice(tag.as_ref());
            Ok(())
        };
        self.error = self.buf[..count * ENCRYPTED_CHUNK_SIZE]
            .chunks_mut(ENCRYPTED_CHUNK_SIZE)
            .enumerate()
            .try_for_each(seal_one)
            .err();
    }

    fn output(&self) -> &[u8] {
        match self.lens.last() {
            None => &[],
            Some(last) => {
                &self.buf[..(self.lens.len() - 1) * ENCRYPTED_CHUNK_SIZE + last + TAG_SIZE]
            }
        }
    }
}

/// Encrypts `input` into STREAM chunks written to `output` (the nonce is not written).
/// Returns the number of plaintext bytes.
///
/// Never reuse a (file key, nonce) pair: [`super::encrypt`] draws both at random. This
/// entry point exists for conformance tests and tools that need to reproduce a payload.
pub fn encrypt_payload<R: Read, W: Write>(
    file_key: &FileKey,
    nonce: &[u8; NONCE_SIZE],
    input: R,
    mut output: W,
    opts: &StreamOptions,
) -> Result<u64, Error> {
    let key = PayloadKey::new(file_key, nonce);
    let batch_chunks = opts.batch();
    let mut source = ChunkSource::new(input);
    let mut next: u64 = 0;
    let mut total: u64 = 0;

    let mut fill = |batch: &mut SealBatch| -> Result<bool, Error> {
        let ended = source.fill(
            &mut batch.buf,
            ENCRYPTED_CHUNK_SIZE,
            CHUNK_SIZE,
            batch_chunks,
            &mut batch.lens,
        )?;
        if batch.lens.is_empty() && next == 0 {
            // An empty payload is one empty final chunk.
            batch.lens.push(0);
        }
        batch.first = next;
        next = next
            .checked_add(batch.lens.len() as u64)
            .ok_or(Error::Payload(PayloadError::TooLong))?;
        batch.last_is_final = ended;
        Ok(ended)
    };
    let mut drain = |batch: &mut SealBatch| -> Result<bool, Error> {
        if let Some(e) = batch.error.take() {
            return Err(e);
        }
        output.write_all(batch.output())?;
        total += batch.lens.iter().sum::<usize>() as u64;
        Ok(true)
    };

    if let Some(workers) = workers(opts) {
        pipeline(
            workers,
            || SealBatch::new(batch_chunks),
            fill,
            |batch| batch.seal(&key),
            drain,
        )?;
    } else {
        let mut batch = SealBatch::new(batch_chunks);
        loop {
            let ended = fill(&mut batch)?;
            batch.seal(&key);
            drain(&mut batch)?;
            if ended {
                break;
            }
        }
    }
    output.flush()?;
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// Decryption

/// What opening one chunk gave.
#[derive(Clone, Copy, Debug)]
enum Opened {
    /// Authenticated; `last` if it was the final chunk.
    Ok { len: usize, last: bool },
    /// Authenticated and released, but the stream is bad right after it.
    ThenError { len: usize, error: PayloadError },
    /// Not authenticated: nothing released.
    Failed(PayloadError),
}

/// Bytes per decryption slot: room for the plaintext, then the chunk read from the file.
const SLOT_SIZE: usize = CHUNK_SIZE + ENCRYPTED_CHUNK_SIZE;

/// Opens chunk `index`, whose `ct_len` bytes sit at `slot[CHUNK_SIZE..]`; the plaintext
/// lands at the start of the slot.
fn open_chunk(
    key: &PayloadKey,
    index: u64,
    slot: &mut [u8],
    ct_len: usize,
    at_eof: bool,
) -> Opened {
    if ct_len < TAG_SIZE {
        return Opened::Failed(PayloadError::ShortChunk { index });
    }
    if ct_len == TAG_SIZE && index > 0 {
        return Opened::Failed(PayloadError::EmptyLastChunk);
    }
    let len = ct_len - TAG_SIZE;
    let slot = &mut slot[..CHUNK_SIZE + ct_len];
    if ct_len < ENCRYPTED_CHUNK_SIZE {
        // A short chunk can only be the final one (and is at the end of the input).
        return if key.open_slot(index, true, slot) {
            Opened::Ok { len, last: true }
        } else {
            Opened::Failed(PayloadError::ChunkAuth { index })
        };
    }
    // A full chunk is final if the input ends after it; try what its position says first,
    // then the other flag, so that a wrong flag yields the right error (and releases what
    // Go age releases).
    for last in [at_eof, !at_eof] {
        if key.open_slot(index, last, slot) {
            return match (last, at_eof) {
                (true, true) | (false, false) => Opened::Ok { len, last },
                (true, false) => Opened::ThenError {
                    len,
                    error: PayloadError::TrailingData,
                },
                (false, true) => Opened::ThenError {
                    len,
                    error: PayloadError::Truncated,
                },
            };
        }
    }
    Opened::Failed(PayloadError::ChunkAuth { index })
}

/// One batch of chunks: each slot holds a chunk as read and, once opened, its plaintext.
struct OpenBatch {
    slots: Vec<u8>,
    lens: Vec<usize>,
    first: u64,
    ends_input: bool,
    outcomes: Vec<Opened>,
    /// Plaintext length of each released chunk, in order (all full but the last).
    released: Vec<usize>,
    /// The final chunk opened: the payload is complete.
    finished: bool,
    error: Option<PayloadError>,
}

impl OpenBatch {
    fn new(chunks: usize) -> Self {
        OpenBatch {
            slots: vec![0; chunks * SLOT_SIZE],
            lens: Vec::with_capacity(chunks),
            first: 0,
            ends_input: false,
            outcomes: Vec::with_capacity(chunks),
            released: Vec::with_capacity(chunks),
            finished: false,
            error: None,
        }
    }

    fn fill<R: Read>(
        &mut self,
        source: &mut ChunkSource<R>,
        next: &mut u64,
        max: usize,
    ) -> Result<bool, Error> {
        let ended = source.fill(
            &mut self.slots[CHUNK_SIZE..],
            SLOT_SIZE,
            ENCRYPTED_CHUNK_SIZE,
            max,
            &mut self.lens,
        )?;
        self.first = *next;
        self.ends_input = ended;
        *next = next
            .checked_add(self.lens.len() as u64)
            .ok_or(Error::Payload(PayloadError::TooLong))?;
        Ok(ended)
    }

    fn open(&mut self, key: &PayloadKey, parallel: bool) {
        let count = self.lens.len();
        let (first, ends_input, lens) = (self.first, self.ends_input, &self.lens);
        let open_one = |(i, slot): (usize, &mut [u8])| {
            open_chunk(
                key,
                first + i as u64,
                slot,
                lens[i],
                ends_input && i + 1 == count,
            )
        };
        let slots = &mut self.slots[..count * SLOT_SIZE];
        self.outcomes.clear();
        if parallel {
            slots
                .par_chunks_mut(SLOT_SIZE)
                .enumerate()
                .map(open_one)
                .collect_into_vec(&mut self.outcomes);
        } else {
            self.outcomes
                .extend(slots.chunks_mut(SLOT_SIZE).enumerate().map(open_one));
        }
        self.settle();
    }

    /// Decides which plaintext is released: every chunk up to the first failure.
    fn settle(&mut self) {
        self.released.clear();
        self.finished = false;
        self.error = None;
        if self.lens.is_empty() {
            self.error = Some(if self.first == 0 {
                PayloadError::NoChunks
            } else {
                PayloadError::Truncated
            });
            return;
        }
        for outcome in &self.outcomes {
            match *outcome {
                Opened::Ok { len, last } => {
                    self.released.push(len);
                    if last {
                        self.finished = true;
                        return;
                    }
                }
                Opened::ThenError { len, error } => {
                    self.released.push(len);
                    self.error = Some(error);
                    return;
                }
                Opened::Failed(error) => {
                    self.error = Some(error);
                    return;
                }
            }
        }
        if self.ends_input {
            // The input ended but no chunk was final (cannot happen: the last chunk at
            // the end of the input is either final or an error), kept for safety.
            self.error = Some(PayloadError::Truncated);
        }
    }

    /// Plaintext of released chunk `i`.
    fn plaintext(&self, i: usize) -> &[u8] {
        &self.slots[i * SLOT_SIZE..i * SLOT_SIZE + self.released[i]]
    }

    /// Writes the released plaintext with as few system calls as the writer allows.
    fn write_released<W: Write>(&self, output: &mut W) -> io::Result<u64> {
        let mut slices: Vec<IoSlice<'_>> = (0..self.released.len())
            .map(|i| IoSlice::new(self.plaintext(i)))
            .collect();
        let total = self.released.iter().sum::<usize>() as u64;
        let mut bufs = &mut slices[..];
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            match output.write_vectored(bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// Decrypts the STREAM payload read from `input` (positioned after the nonce) and writes
/// the plaintext to `output`. Returns the plaintext length.
///
/// On a bad chunk the plaintext of the chunks before it has been written and the error
/// is returned; use [`super::decrypt_to_path`] to never leave partial plaintext behind.
pub fn decrypt_payload<R: Read, W: Write>(
    file_key: &FileKey,
    nonce: &[u8; NONCE_SIZE],
    input: R,
    mut output: W,
    opts: &StreamOptions,
) -> Result<u64, Error> {
    let key = PayloadKey::new(file_key, nonce);
    let batch_chunks = opts.batch();
    let mut source = ChunkSource::new(input);
    let mut next: u64 = 0;
    let mut total: u64 = 0;
    let mut failure: Option<PayloadError> = None;

    let mut fill = |batch: &mut OpenBatch| -> Result<bool, Error> {
        batch.fill(&mut source, &mut next, batch_chunks)
    };
    let mut drain = |batch: &mut OpenBatch| -> Result<bool, Error> {
        total += batch.write_released(&mut output)?;
        if let Some(e) = batch.error {
            failure = Some(e);
            return Ok(false);
        }
        Ok(!batch.finished)
    };

    if let Some(workers) = workers(opts) {
        pipeline(
            workers,
            || OpenBatch::new(batch_chunks),
            fill,
            |batch| batch.open(&key, false),
            drain,
        )?;
    } else {
        let mut batch = OpenBatch::new(batch_chunks);
        loop {
            fill(&mut batch)?;
            batch.open(&key, false);
            if !drain(&mut batch)? {
                break;
            }
        }
    }
    output.flush()?;
    match failure {
        Some(e) => Err(Error::Payload(e)),
        None => Ok(total),
    }
}

/// Decrypts a STREAM payload held in memory (everything after the nonce) all or nothing:
/// the plaintext, or the error [`decrypt_payload`] would end with, and then no plaintext.
///
/// For small secrets (a sealed file key): every buffer that held plaintext is wiped, the
/// returned one when it is dropped.
pub(crate) fn decrypt_in_memory(
    file_key: &FileKey,
    nonce: &[u8; NONCE_SIZE],
    payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if payload.is_empty() {
        return Err(Error::Payload(PayloadError::NoChunks));
    }
    let key = PayloadKey::new(file_key, nonce);
    let mut plaintext = Zeroizing::new(Vec::with_capacity(payload.len()));
    // One slot as `open_chunk` wants it (plaintext, then the chunk at CHUNK_SIZE), no
    // bigger than the payload needs; only its plaintext part is wiped.
    let mut slot = WipedPrefix {
        buf: vec![0u8; CHUNK_SIZE + payload.len().min(ENCRYPTED_CHUNK_SIZE)],
        used: 0,
    };
    for (index, chunk) in payload.chunks(ENCRYPTED_CHUNK_SIZE).enumerate() {
        let at_eof = index * ENCRYPTED_CHUNK_SIZE + chunk.len() == payload.len();
        slot.buf[CHUNK_SIZE..CHUNK_SIZE + chunk.len()].copy_from_slice(chunk);
        slot.used = slot.used.max(chunk.len().saturating_sub(TAG_SIZE));
        match open_chunk(&key, index as u64, &mut slot.buf, chunk.len(), at_eof) {
            Opened::Ok { len, last } => {
                plaintext.extend_from_slice(&slot.buf[..len]);
                if last {
                    return Ok(plaintext);
                }
            }
            Opened::ThenError { error, .. } | Opened::Failed(error) => {
                return Err(Error::Payload(error))
            }
        }
    }
    // The last chunk at the end of the input is either final or an error (see
    // `open_chunk`); kept for safety, as in `OpenBatch::settle`.
    Err(Error::Payload(PayloadError::Truncated))
}

/// A buffer whose first `used` bytes (plaintext) are wiped when it is dropped.
struct WipedPrefix {
    buf: Vec<u8>,
    used: usize,
}

impl Drop for WipedPrefix {
    fn drop(&mut self) {
        self.buf[..self.used].zeroize();
    }
}

// ---------------------------------------------------------------------------------------
// Pull-style reader with random access

/// A reader of the plaintext of one protected file.
///
/// Reading decrypts a batch of chunks at a time (in parallel unless the options say
/// `threads: 1`) and returns only authenticated plaintext. An authentication failure is
/// returned as an [`io::Error`] of kind `InvalidData` whose inner error is an
/// [`Error::Payload`], after the plaintext released before it.
///
/// When the input is also [`Seek`], so is the reader: seeking first authenticates the
/// final chunk, so the plaintext length it reports cannot be forged by truncation.
/// Random access authenticates only the chunks it reads (plus the final one): a damaged
/// chunk elsewhere in the file goes unnoticed until it is read. Read the whole payload
/// (or use [`decrypt_payload`]) to check the entire file.
pub struct PayloadReader<R> {
    key: PayloadKey,
    source: ChunkSource<R>,
    parallel: bool,
    batch_chunks: usize,
    batch: OpenBatch,
    /// Next chunk index to read from `source`.
    next: u64,
    /// Read position: released chunk of `batch`, and offset inside it.
    cursor: (usize, usize),
    /// Plaintext position of the reader.
    position: u64,
    done: bool,
    /// Payload start and plaintext length, once known (after the first seek).
    layout: Option<(u64, u64)>,
}

impl<R: Read> PayloadReader<R> {
    /// A reader of the payload in `input`, positioned just after the nonce.
    pub fn new(
        file_key: &FileKey,
        nonce: &[u8; NONCE_SIZE],
        input: R,
        opts: &StreamOptions,
    ) -> Self {
        let batch_chunks = opts.batch();
        PayloadReader {
            key: PayloadKey::new(file_key, nonce),
            source: ChunkSource::new(input),
            parallel: opts.threads != 1,
            batch_chunks,
            batch: OpenBatch::new(0),
            next: 0,
            cursor: (0, 0),
            position: 0,
            done: false,
            layout: None,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        if self.batch.slots.is_empty() {
            self.batch = OpenBatch::new(self.batch_chunks);
        }
        self.batch
            .fill(&mut self.source, &mut self.next, self.batch_chunks)
            .map_err(into_io)?;
        self.batch.open(&self.key, self.parallel);
        self.cursor = (0, 0);
        Ok(())
    }
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<R: Read> Read for PayloadReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (chunk, offset) = self.cursor;
            if chunk < self.batch.released.len() {
                let plaintext = &self.batch.plaintext(chunk)[offset..];
                if plaintext.is_empty() {
                    self.cursor = (chunk + 1, 0);
                    continue;
                }
                let n = buf.len().min(plaintext.len());
                buf[..n].copy_from_slice(&plaintext[..n]);
                self.cursor.1 += n;
                self.position += n as u64;
                return Ok(n);
            }
            if let Some(e) = self.batch.error {
                return Err(into_io(Error::Payload(e)));
            }
            if self.done || self.batch.finished || buf.is_empty() {
                self.done = true;
                return Ok(0);
            }
            self.refill()?;
        }
    }
}

impl<R: Read + Seek> PayloadReader<R> {
    /// Finds where the payload starts and how long the plaintext is, authenticating the
    /// final chunk.
    fn layout(&mut self) -> io::Result<(u64, u64)> {
        if let Some(layout) = self.layout {
            return Ok(layout);
        }
        let here = self.source.inner.stream_position()?;
        let start = here
            .checked_sub(self.source.consumed)
            .ok_or_else(|| io::Error::other("the input moved under the reader"))?;
        let end = self.source.inner.seek(SeekFrom::End(0))?;
        let ct_len = end.saturating_sub(start);
        let bad = |e: PayloadError| into_io(Error::Payload(e));
        if ct_len == 0 {
            return Err(bad(PayloadError::NoChunks));
        }
        let chunks = ct_len.div_ceil(ENCRYPTED_CHUNK_SIZE as u64);
        let last_start = (chunks - 1) * ENCRYPTED_CHUNK_SIZE as u64;
        let last_len = (ct_len - last_start) as usize;
        // Authenticate the final chunk so the length below is trustworthy.
        self.source
            .inner
            .seek(SeekFrom::Start(start + last_start))?;
        let mut slot = vec![0u8; SLOT_SIZE];
        self.source
            .inner
            .read_exact(&mut slot[CHUNK_SIZE..CHUNK_SIZE + last_len])?;
        match open_chunk(&self.key, chunks - 1, &mut slot, last_len, true) {
            Opened::Ok { last: true, .. } => {}
            Opened::Ok { .. } => return Err(bad(PayloadError::Truncated)),
            Opened::ThenError { error, .. } | Opened::Failed(error) => return Err(bad(error)),
        }
        let plaintext_len = ct_len - chunks * TAG_SIZE as u64;
        self.layout = Some((start, plaintext_len));
        Ok((start, plaintext_len))
    }

    /// The plaintext length, after authenticating the final chunk.
    pub fn plaintext_len(&mut self) -> io::Result<u64> {
        let position = self.position;
        let (_, len) = self.layout()?;
        self.seek(SeekFrom::Start(position))?;
        Ok(len)
    }
}

impl<R: Read + Seek> Seek for PayloadReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (start, len) = self.layout()?;
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot seek before the start of the plaintext",
            )
        })?;
        let chunk = target / CHUNK_SIZE as u64;
        self.source.pending = None;
        self.source.consumed = 0;
        self.batch.released.clear();
        self.batch.error = None;
        self.batch.finished = false;
        self.cursor = (0, 0);
        self.position = target;
        if target >= len {
            self.done = true;
            return Ok(target);
        }
        self.done = false;
        let ct_offset = chunk * ENCRYPTED_CHUNK_SIZE as u64;
        self.source.inner.seek(SeekFrom::Start(start + ct_offset))?;
        self.source.consumed = ct_offset;
        self.next = chunk;
        self.refill()?;
        let skip = (target - chunk * CHUNK_SIZE as u64) as usize;
        // The chunk at `target` is inside the payload, so the batch released it unless it
        // failed; a failure surfaces on the next read.
        self.cursor = (
            0,
            skip.min(self.batch.released.first().copied().unwrap_or(0)),
        );
        Ok(target)
    }
}
