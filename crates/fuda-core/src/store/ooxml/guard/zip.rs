//! The zip layer of a package: its directory checked before anything is inflated, and
//! every entry inflated against one [`Budget`].
//!
//! A zip directory can point any number of entries at the same compressed bytes: a 1 MB
//! file whose thousands of entries all name one stream of 1 GiB of zeros inflates to
//! terabytes. [`check_layout`] refuses packages whose entries share bytes of the file
//! (Office never writes one), and [`Unpacker`] stops any entry of 1 MiB or more that
//! inflates beyond [`Budget::max_ratio`] times its compressed size and any package that
//! inflates beyond [`Budget::max_unpacked`] in total. Sizes are counted on what comes out
//! of the decompressor, never taken from the headers.

use std::io::{self, Read, Seek};

use ::zip::result::ZipError;
use ::zip::ZipArchive;

/// Most entries a package may have.
pub const MAX_ENTRIES: usize = 20_000;
/// Entries that inflate to less than this are not held to the ratio (small XML parts
/// compress far better than 200:1 legitimately).
pub const RATIO_EXEMPT: u64 = 1 << 20;

/// How much reading one package may inflate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes inflated from the whole package at most.
    pub max_unpacked: u64,
    /// Largest ratio of inflated to compressed size of one entry (entries under
    /// [`RATIO_EXEMPT`] are exempt).
    pub max_ratio: u64,
}

impl Budget {
    /// What labeling may inflate: reading the label parts and the content digest over
    /// every entry (4 GiB in total, 200:1 per entry).
    pub const LABELING: Budget = Budget {
        max_unpacked: 4 << 30,
        max_ratio: 200,
    };
}

/// Why a package, or one of its entries, was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The zip structure itself cannot be read.
    #[error(transparent)]
    Zip(#[from] ZipError),
    /// More than [`MAX_ENTRIES`] entries.
    #[error("it has {count} entries (at most {MAX_ENTRIES})")]
    TooManyEntries {
        /// How many it has.
        count: usize,
    },
    /// Two entries' bytes overlap in the file.
    #[error("entries {first} and {second} share the same bytes of the file, a zip bomb trick no Office application uses")]
    Overlap {
        /// The entry that starts first.
        first: String,
        /// The entry that starts inside it.
        second: String,
    },
    /// An entry inflates beyond the budget.
    #[error("refused to unpack {entry}: it inflates {detail} (a zip bomb, or a document far larger than fuda reads)")]
    Inflates {
        /// The entry.
        entry: String,
        /// The ratio or total it went beyond.
        detail: String,
    },
    /// A part read into memory is larger than the caller allows.
    #[error("{entry} is larger than {} MiB", max >> 20)]
    TooLarge {
        /// The entry.
        entry: String,
        /// The caller's limit in bytes.
        max: u64,
    },
    /// An entry inflates to another size than its header says.
    #[error("{entry} holds more or fewer bytes than its header says ({declared})")]
    SizeMismatch {
        /// The entry.
        entry: String,
        /// The size in its header.
        declared: u64,
    },
    /// Reading or inflating an entry failed.
    #[error("{entry} is damaged: {source}")]
    Entry {
        /// The entry.
        entry: String,
        /// What failed.
        source: io::Error,
    },
}

/// Checks a package's directory before anything is inflated: at most [`MAX_ENTRIES`]
/// entries, and no two entries whose bytes in the file (local header to end of data)
/// overlap. Reads each entry's local header, nothing more.
pub fn check_layout<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<(), GuardError> {
    if zip.len() > MAX_ENTRIES {
        return Err(GuardError::TooManyEntries { count: zip.len() });
    }
    let mut spans = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i)?;
        let end = entry
            .data_start()
            .checked_add(entry.compressed_size())
            .ok_or_else(|| {
                ZipError::InvalidArchive(format!("{}: impossible size", entry.name()).into())
            })?;
        spans.push((entry.header_start(), end, i));
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
        if start < end {
            let name = |i: usize| zip.name_for_index(i).unwrap_or_default().to_owned();
            return Err(GuardError::Overlap {
                first: name(a),
                second: name(b),
            });
        }
    }
    Ok(())
}

/// Inflates the entries of one package, all against one [`Budget`].
#[derive(Debug)]
pub struct Unpacker {
    budget: Budget,
    unpacked: u64,
}

impl Unpacker {
    /// A fresh count for one package.
    pub fn new(budget: Budget) -> Unpacker {
        Unpacker {
            budget,
            unpacked: 0,
        }
    }

    /// Bytes inflated so far.
    pub fn unpacked(&self) -> u64 {
        self.unpacked
    }

    /// The inflated bytes of entry `index`, refused beyond `max` bytes
    /// ([`GuardError::TooLarge`]) or beyond the budget.
    pub fn read<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        max: u64,
    ) -> Result<Vec<u8>, GuardError> {
        let mut out = Vec::new();
        self.inflate(zip, index, max, |chunk| out.extend_from_slice(chunk))?;
        Ok(out)
    }

    /// Inflates entry `index` into `sink` chunk by chunk; returns the entry's size, which
    /// is checked against its header.
    pub fn stream<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        sink: impl FnMut(&[u8]),
    ) -> Result<u64, GuardError> {
        self.inflate(zip, index, u64::MAX, sink)
    }

    fn inflate<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        max: u64,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<u64, GuardError> {
        let mut entry = zip.by_index(index)?;
        let name = entry.name().to_owned();
        let declared = entry.size();
        if declared > max {
            return Err(GuardError::TooLarge { entry: name, max });
        }
        let compressed = entry.compressed_size().max(1);
        let entry_cap = RATIO_EXEMPT.max(compressed.saturating_mul(self.budget.max_ratio));
        let left = self.budget.max_unpacked.saturating_sub(self.unpacked);
        let mut buf = vec![0u8; 64 * 1024];
        let mut seen = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(GuardError::Entry {
                        entry: name,
                        source,
                    })
                }
            };
            seen += n as u64;
            let inflates = |detail: String| GuardError::Inflates {
                entry: name.clone(),
                detail,
            };
            if seen > entry_cap {
                return Err(inflates(format!(
                    "more than {}× its compressed size of {compressed} bytes",
                    self.budget.max_ratio
                )));
            }
            if seen > left {
                return Err(inflates(format!(
                    "beyond {} MiB in total",
                    self.budget.max_unpacked >> 20
                )));
            }
            if seen > max {
                return Err(GuardError::TooLarge { entry: name, max });
            }
            if seen > declared {
                return Err(GuardError::SizeMismatch {
                    entry: name,
                    declared,
                });
            }
            sink(&buf[..n]);
        }
        if seen != declared {
            return Err(GuardError::SizeMismatch {
                entry: name,
                declared,
            });
        }
        self.unpacked += seen;
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    /// A zip written by hand: one stored entry `a` whose bytes are `data`, and `aliases`
    /// more central directory entries that point at the same local header.
    fn aliased(data: &[u8], aliases: usize) -> Vec<u8> {
        let crc = crc32(data);
        let mut out = Vec::new();
        let local = |out: &mut Vec<u8>, name: &str| {
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        };
        local(&mut out, "a");
        out.extend_from_slice(data);
        let cd_start = out.len();
        let names: Vec<String> = std::iter::once("a".to_owned())
            .chain((0..aliases).map(|i| format!("alias{i}")))
            .collect();
        for name in &names {
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 12]);
            out.extend_from_slice(&0u32.to_le_bytes()); // every entry: the one local header
            out.extend_from_slice(name.as_bytes());
        }
        let cd_len = out.len() - cd_start;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd_len as u32).to_le_bytes());
        out.extend_from_slice(&(cd_start as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    /// CRC-32 (IEEE), bit by bit: test data only.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn deflated(entries: &[(&str, Vec<u8>)]) -> ZipArchive<Cursor<Vec<u8>>> {
        let mut z = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            let options = ::zip::write::SimpleFileOptions::default()
                .compression_method(::zip::CompressionMethod::Deflated);
            z.start_file(*name, options).unwrap();
            z.write_all(bytes).unwrap();
        }
        ZipArchive::new(Cursor::new(z.finish().unwrap().into_inner())).unwrap()
    }

    #[test]
    fn entries_that_share_bytes_are_refused_before_anything_is_inflated() {
        let bytes = aliased(b"hello", 3);
        let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
        // The zip library itself reads every alias as the same entry…
        assert_eq!(zip.len(), 4);
        assert_eq!(
            Unpacker::new(Budget::LABELING)
                .read(&mut zip, 3, 100)
                .unwrap(),
            b"hello"
        );
        // …the guard does not.
        let e = check_layout(&mut zip).unwrap_err();
        assert!(
            matches!(&e, GuardError::Overlap { first, second } if first == "a" && second.starts_with("alias")),
            "{e}"
        );
    }

    #[test]
    fn an_ordinary_package_passes_and_is_counted() {
        let mut zip = deflated(&[("a.xml", b"<a/>".to_vec()), ("b.xml", vec![b' '; 5000])]);
        check_layout(&mut zip).unwrap();
        let mut unpacker = Unpacker::new(Budget::LABELING);
        assert_eq!(unpacker.read(&mut zip, 0, 100).unwrap(), b"<a/>");
        let mut seen = 0;
        let size = unpacker
            .stream(&mut zip, 1, |chunk| seen += chunk.len())
            .unwrap();
        assert_eq!((size, seen), (5000, 5000));
        assert_eq!(unpacker.unpacked(), 5004);
    }

    #[test]
    fn inflation_beyond_the_budget_is_refused() {
        // 2 MiB of zeros deflate about 1000:1, beyond 200:1.
        let mut zip = deflated(&[("zeros.bin", vec![0; 2 << 20])]);
        let e = Unpacker::new(Budget::LABELING)
            .stream(&mut zip, 0, |_| {})
            .unwrap_err();
        assert!(
            matches!(&e, GuardError::Inflates { detail, .. } if detail.contains("200×")),
            "{e}"
        );
        // Small entries are exempt from the ratio but not from the total.
        let mut zip = deflated(&[("a", vec![0; 600 << 10]), ("b", vec![0; 600 << 10])]);
        let mut unpacker = Unpacker::new(Budget {
            max_unpacked: 1 << 20,
            max_ratio: 200,
        });
        unpacker.stream(&mut zip, 0, |_| {}).unwrap();
        let e = unpacker.stream(&mut zip, 1, |_| {}).unwrap_err();
        assert!(
            matches!(&e, GuardError::Inflates { detail, .. } if detail.contains("in total")),
            "{e}"
        );
    }

    #[test]
    fn a_part_larger_than_the_caller_allows_is_refused() {
        let mut zip = deflated(&[("big.xml", vec![b'x'; 1000])]);
        let e = Unpacker::new(Budget::LABELING)
            .read(&mut zip, 0, 999)
            .unwrap_err();
        assert!(matches!(e, GuardError::TooLarge { max: 999, .. }), "{e}");
    }
}
