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
    pub fn of_reader(mut reader: impl Read) -> io::Result<Digest> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
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
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
