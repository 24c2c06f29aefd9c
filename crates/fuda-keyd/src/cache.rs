//! Bounded caches of what a licence decision computes from a file's header, so that
//! repeated opens of one file skip the X25519 work (the most expensive part of a licence):
//!
//! - the **file key** the header unwraps to (and the key version that opened it);
//! - the file key **sealed** to one user's age recipient.
//!
//! Entries are keyed by the SHA-256 of the file's exact header bytes (and, for sealed keys,
//! the recipient). The unwrap and MAC check are a pure function of those bytes and the
//! service's keys (versions are only ever added, never removed), so a hit returns exactly
//! what a fresh unwrap would: a header that differs in any byte — a swapped label, doc id,
//! stanza or MAC — misses and is checked in full. Failed unwraps are not cached. Every
//! decision (the registry's key check, user status, revocations, expiry, grants, audit)
//! runs on every request; only its cryptographic by-products are reused. A sealed key is
//! handed out again only to the user it was sealed to, after a new decision said yes: it
//! tells them nothing they were not given before.
//!
//! Eviction is second chance (CLOCK): a hit marks its entry; when the cache is full the
//! oldest unmarked entry goes. The map is allocated at full size up front and never
//! grows, so file keys are not left behind in freed memory by rehashing; evicted file keys
//! are zeroized when dropped ([`FileKey`] zeroizes itself).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[cfg(doc)]
use fuda_core::envelope::FileKey;

/// How many entries each cache keeps by default (file keys: about 100 bytes each;
/// sealed keys: about 300).
pub const DEFAULT_CAPACITY: usize = 16_384;

/// A SHA-256: what the caches are keyed by.
pub type Digest = [u8; 32];

/// The SHA-256 of `parts`, concatenated (a header's exact bytes; a header digest and a
/// recipient).
pub fn digest(parts: &[&[u8]]) -> Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

struct Entry<V> {
    value: V,
    used: bool,
}

struct Inner<V> {
    map: HashMap<Digest, Entry<V>>,
    /// Insertion order, for the clock hand.
    order: VecDeque<Digest>,
}

/// A bounded map from digests to values.
pub struct Cache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
}

impl<V> std::fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<V: Clone> Cache<V> {
    /// A cache holding at most `capacity` values (0 disables it).
    pub fn new(capacity: usize) -> Cache<V> {
        Cache {
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(capacity),
                order: VecDeque::with_capacity(capacity),
            }),
            capacity,
        }
    }

    /// The value cached under `digest`, marking the entry as used.
    pub fn get(&self, digest: &Digest) -> Option<V> {
        let mut inner = self.inner.lock().ok()?;
        let entry = inner.map.get_mut(digest)?;
        entry.used = true;
        Some(entry.value.clone())
    }

    /// Remembers a value.
    pub fn insert(&self, digest: Digest, value: &V) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.map.contains_key(&digest) {
            return;
        }
        while inner.map.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            match inner.map.get_mut(&oldest) {
                Some(e) if e.used => {
                    e.used = false;
                    inner.order.push_back(oldest);
                }
                _ => {
                    inner.map.remove(&oldest);
                }
            }
        }
        inner.map.insert(
            digest,
            Entry {
                value: value.clone(),
                used: false,
            },
        );
        inner.order.push_back(digest);
    }

    /// How many values are cached.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::envelope::FileKey;

    fn key(b: u8) -> (FileKey, u32) {
        (
            FileKey::from_bytes([b; fuda_core::envelope::FILE_KEY_SIZE]),
            1,
        )
    }

    fn d(bytes: &[u8]) -> Digest {
        digest(&[bytes])
    }

    #[test]
    fn a_hit_returns_the_key_and_version_and_other_headers_miss() {
        let cache = Cache::new(4);
        cache.insert(d(b"header a"), &(key(1).0, 2));
        let (k, v) = cache.get(&d(b"header a")).unwrap();
        assert_eq!((k.expose(), v), (key(1).0.expose(), 2));
        assert!(cache.get(&d(b"header b")).is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity_and_keeps_what_is_used() {
        let cache = Cache::new(3);
        for i in 0..3u8 {
            cache.insert(d(&[i]), &key(i));
        }
        // 0 is used again, so 1 (the oldest unused) goes when 3 arrives.
        assert!(cache.get(&d(&[0])).is_some());
        cache.insert(d(&[3]), &key(3));
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&d(&[0])).is_some());
        assert!(cache.get(&d(&[1])).is_none());
        assert!(cache.get(&d(&[3])).is_some());
        for i in 10..100u8 {
            cache.insert(d(&[i]), &key(i));
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = Cache::new(0);
        cache.insert(d(b"h"), &key(1));
        assert!(cache.is_empty());
    }
}
