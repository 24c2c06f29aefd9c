//! SHA-256 content digests.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A SHA-256 digest, shown and serialised as lower-case hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Digest of everything `reader` yields.
    pub fn of_reader(reader: impl Read) -> io::Result<Digest> {
        Digest::of_prefix_and_reader(&[], reader)
    }

    /// Digest of `prefix` followed by everything `reader` yields.
    fn of_prefix_and_reader(prefix: &[u8], mut reader: impl Read) -> io::Result<Digest> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(prefix);
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            ctx.update(&buf[..n]);
        }
        Ok(Digest::from_ring(ctx.finish()))
    }

    /// Digest of a file's content, read without touching its access time where allowed.
    pub fn of_file(path: &std::path::Path) -> io::Result<Digest> {
        Digest::of_reader(crate::fsutil::open_quietly(path)?)
    }

    /// Digest of a file whose size was just read from its metadata. A small file is read
    /// with one `read`: on a regular file, a read that returns fewer bytes than asked for
    /// and exactly `size` in all is the end. A larger file, or one whose size changed, is
    /// read to its end as usual.
    pub fn of_file_sized(path: &std::path::Path, size: u64) -> io::Result<Digest> {
        const SMALL: usize = 16 * 1024;
        let mut file = crate::fsutil::open_quietly(path)?;
        let mut buf = [0u8; SMALL];
        let mut len = 0;
        loop {
            if len == SMALL {
                return Digest::of_prefix_and_reader(&buf, file);
            }
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    if len as u64 == size && len < SMALL {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Digest::of_bytes(&buf[..len]))
    }

    /// Digest of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_ring(ring::digest::digest(&ring::digest::SHA256, bytes))
    }

    /// Converts ring's digest.
    pub fn from_ring(d: ring::digest::Digest) -> Digest {
        let mut out = [0; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Digest(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Hex on the stack: an inventory writes a million of these.
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.0, &mut hex).expect("64 hex digits for 32 bytes");
        s.serialize_str(std::str::from_utf8(&hex).expect("hex is ASCII"))
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_reads_give_the_digest_of_the_whole_file_whatever_the_size_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for len in [
            0usize,
            1,
            1023,
            16 * 1024 - 1,
            16 * 1024,
            16 * 1024 + 1,
            100_000,
        ] {
            let content: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            let want = Digest::of_bytes(&content);
            // The true size, and sizes a file had before it grew or shrank.
            for hint in [len as u64, 0, len as u64 / 2, len as u64 + 1, 1 << 40] {
                assert_eq!(
                    Digest::of_file_sized(&path, hint).unwrap(),
                    want,
                    "len {len} hint {hint}"
                );
            }
        }
    }
}
