//! What a cache learnt in this run, shared by the worker threads until it is saved (the
//! content-digest cache).

use std::sync::Mutex;

/// Entries learnt in this run, in the order they came.
#[derive(Debug)]
pub(crate) struct Learnt<T>(Mutex<Vec<T>>);

impl<T> Default for Learnt<T> {
    fn default() -> Learnt<T> {
        Learnt(Mutex::new(Vec::new()))
    }
}

impl<T> Learnt<T> {
    /// Remembers one entry. After a panic elsewhere poisoned the lock, the entry is
    /// dropped: a cache only loses a shortcut.
    pub(crate) fn push(&self, entry: T) {
        if let Ok(mut entries) = self.0.lock() {
            entries.push(entry);
        }
    }

    /// Everything learnt so far, leaving nothing; `what` names the cache in the error
    /// about a poisoned lock.
    pub(crate) fn take(&self, what: &str) -> std::io::Result<Vec<T>> {
        let mut entries = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other(format!("{what} lock poisoned")))?;
        Ok(std::mem::take(&mut *entries))
    }
}
