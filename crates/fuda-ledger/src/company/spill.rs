//! Records of any serde type kept out of memory: JSON lines in an unnamed 0600
//! temporary file, read back in the order they were written (as [`crate::inventory::files`]
//! does for the files of one inventory).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::inventory::files::At;

/// Records being written.
pub struct Writer<T> {
    out: BufWriter<File>,
    len: usize,
    kind: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Writer<T> {
    /// An empty spill in `dir`.
    pub fn new(dir: &Path) -> std::io::Result<Writer<T>> {
        Ok(Writer {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(dir)?),
            len: 0,
            kind: PhantomData,
        })
    }

    /// Appends one record.
    pub fn push(&mut self, record: &T) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.len += 1;
        Ok(())
    }

    /// Everything pushed, to read back.
    pub fn finish(self) -> std::io::Result<Spilled<T>> {
        Ok(Spilled {
            file: self.out.into_inner().map_err(|e| e.into_error())?,
            len: self.len,
            kind: PhantomData,
        })
    }
}

/// Records written, read back as often as needed.
pub struct Spilled<T> {
    file: File,
    len: usize,
    kind: PhantomData<T>,
}

impl<T: DeserializeOwned> Spilled<T> {
    /// How many records.
    pub fn count(&self) -> usize {
        self.len
    }

    /// The records in order; an error means the temporary file could not be read back.
    pub fn iter(&self) -> impl Iterator<Item = std::io::Result<T>> + '_ {
        let mut reader = BufReader::with_capacity(1 << 16, At::new(&self.file));
        let mut line = Vec::new();
        std::iter::from_fn(move || {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => None,
                Ok(_) => Some(
                    serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(&line))
                        .map_err(std::io::Error::from),
                ),
                Err(e) => Some(Err(e)),
            }
        })
    }
}
