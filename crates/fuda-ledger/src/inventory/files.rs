//! The per-file records of an inventory (ファイル明細), kept out of memory.
//!
//! A million files would take most of a gigabyte as [`FileEntry`] values, so
//! [`super::build`] writes each record as it is made — one line of JSON, exactly what
//! serde writes for the entry — to an unnamed temporary file (created with `O_TMPFILE`,
//! mode 0600, gone when the inventory is dropped or the process dies), and the ledger
//! writers read the records back in order. The JSON ledger copies the lines as they are.
//! An inventory read back from JSON, or made in a test, holds its records in memory.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::FileEntry;

/// Every file of an inventory, in walk order.
#[derive(Clone)]
pub struct FileList {
    len: usize,
    records: Records,
}

#[derive(Clone)]
enum Records {
    Memory(Vec<FileEntry>),
    /// JSON lines in an unnamed temporary file.
    Spilled(Arc<File>),
}

impl std::fmt::Debug for FileList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.records {
            Records::Memory(_) => "in memory",
            Records::Spilled(_) => "in a temporary file",
        };
        write!(f, "FileList({} files {kind})", self.len)
    }
}

impl From<Vec<FileEntry>> for FileList {
    fn from(files: Vec<FileEntry>) -> FileList {
        FileList {
            len: files.len(),
            records: Records::Memory(files),
        }
    }
}

impl FileList {
    /// How many files.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The files in order; an error means the temporary file could not be read back.
    pub fn iter(&self) -> impl Iterator<Item = std::io::Result<FileEntry>> + '_ {
        let mut memory = None;
        let mut spilled = None;
        match &self.records {
            Records::Memory(files) => memory = Some(files.iter().cloned().map(Ok)),
            Records::Spilled(file) => spilled = Some(Lines::new(file)),
        }
        memory
            .into_iter()
            .flatten()
            .chain(spilled.into_iter().flatten())
    }

    /// Hands each file's record, as serde writes it (one line of JSON without its
    /// newline), to `each`, in order: copied from the spill without parsing it.
    pub fn for_each_json(
        &self,
        mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match &self.records {
            Records::Memory(files) => {
                let mut line = Vec::with_capacity(512);
                for file in files {
                    line.clear();
                    serde_json::to_writer(&mut line, file)?;
                    each(&line)?;
                }
                Ok(())
            }
            Records::Spilled(file) => {
                let mut reader = BufReader::with_capacity(1 << 20, At::new(file));
                let mut line = Vec::with_capacity(512);
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).map_err(read_back)? == 0 {
                        return Ok(());
                    }
                    each(line.strip_suffix(b"\n").unwrap_or(&line))?;
                }
            }
        }
    }

    /// Writes the files as the items of a JSON array, comma-separated, exactly as serde
    /// writes them.
    pub fn write_json_items(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.write_json_items_by(out, 1 << 20)
    }

    fn write_json_items_by(&self, out: &mut impl Write, block: usize) -> std::io::Result<()> {
        match &self.records {
            Records::Memory(files) => {
                for (i, file) in files.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, file)?;
                }
                Ok(())
            }
            Records::Spilled(file) => {
                // JSON escapes every newline inside a string: the only newlines are the
                // ones between records, and the last byte.
                let mut reader = At::new(file);
                let mut block = vec![0; block];
                let mut held_newline = false;
                loop {
                    let n = reader.read(&mut block).map_err(read_back)?;
                    if n == 0 {
                        return Ok(());
                    }
                    if held_newline {
                        out.write_all(b",")?;
                    }
                    let chunk = &mut block[..n];
                    held_newline = chunk.last() == Some(&b'\n');
                    let body = if held_newline {
                        &mut chunk[..n - 1]
                    } else {
                        chunk
                    };
                    for byte in body.iter_mut().filter(|b| **b == b'\n') {
                        *byte = b',';
                    }
                    out.write_all(body)?;
                }
            }
        }
    }
}

impl Serialize for FileList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for file in self.iter() {
            seq.serialize_element(&file.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for FileList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FileList, D::Error> {
        Vec::<FileEntry>::deserialize(deserializer).map(FileList::from)
    }
}

/// Writes records to the temporary file as they are made, in order.
pub struct Spill {
    out: BufWriter<File>,
    len: usize,
}

impl Spill {
    /// An empty spill file in `dir`.
    pub fn new(dir: &Path) -> std::io::Result<Spill> {
        Ok(Spill {
            out: BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?),
            len: 0,
        })
    }

    /// The records of `files` as JSON lines (done by the workers, in parallel).
    pub fn lines(files: &[FileEntry]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(files.len() * 320);
        for file in files {
            serde_json::to_writer(&mut bytes, file).expect("a FileEntry serializes");
            bytes.push(b'\n');
        }
        bytes
    }

    /// Appends `count` records made by [`Spill::lines`].
    pub fn push(&mut self, lines: &[u8], count: usize) -> std::io::Result<()> {
        self.out.write_all(lines)?;
        self.len += count;
        Ok(())
    }

    /// The list of everything pushed.
    pub fn finish(self) -> std::io::Result<FileList> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(FileList {
            len: self.len,
            records: Records::Spilled(Arc::new(file)),
        })
    }
}

/// An error reading the records back, saying so (the writers report it with the file
/// they were writing).
fn read_back(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("reading back the inventory's temporary file: {e}"),
    )
}

/// Reads a shared file from the start with positional reads, so that several readers
/// never disturb each other's offset.
pub(crate) struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl<'a> At<'a> {
    pub(crate) fn new(file: &'a File) -> At<'a> {
        At { file, pos: 0 }
    }
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The records of a spill file, one line each.
struct Lines<'a> {
    reader: BufReader<At<'a>>,
    line: Vec<u8>,
}

impl<'a> Lines<'a> {
    fn new(file: &'a File) -> Lines<'a> {
        Lines {
            reader: BufReader::with_capacity(1 << 20, At::new(file)),
            line: Vec::with_capacity(512),
        }
    }
}

impl Iterator for Lines<'_> {
    type Item = std::io::Result<FileEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.line.clear();
        match self.reader.read_until(b'\n', &mut self.line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_slice(self.line.strip_suffix(b"\n").unwrap_or(&self.line))
                    .map_err(|e| read_back(e.into())),
            ),
            Err(e) => Some(Err(read_back(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::label::Status;

    fn entries(count: usize) -> Vec<FileEntry> {
        (0..count)
            .map(|i| FileEntry {
                path: format!("/s/改行\n{i}.txt").into(),
                root: "/s".into(),
                size: i as u64,
                status: Status::Valid,
                level: Some("internal".into()),
                problem: (i % 3 == 0).then(|| "a \"quoted\"\nproblem".into()),
                ..FileEntry::default()
            })
            .collect()
    }

    fn spilled(files: &[FileEntry]) -> FileList {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(dir.path()).unwrap();
        for part in files.chunks(7) {
            spill.push(&Spill::lines(part), part.len()).unwrap();
        }
        let list = spill.finish().unwrap();
        // The temporary file has no name: nothing is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        list
    }

    #[test]
    fn spilled_records_read_back_and_write_as_serde_writes_them() {
        for count in [0, 1, 6, 7, 50] {
            let files = entries(count);
            let list = spilled(&files);
            assert_eq!(list.len(), count);
            let back: Vec<FileEntry> = list.iter().map(Result::unwrap).collect();
            assert_eq!(back, files);
            // Twice: each reader starts at the beginning.
            assert_eq!(list.iter().count(), count);
            let mut items = b"[".to_vec();
            list.write_json_items(&mut items).unwrap();
            items.push(b']');
            assert_eq!(items, serde_json::to_vec(&files).unwrap(), "{count} files");
            // Blocks that end anywhere: on a newline, in a record, in a string.
            for block in [1, 2, 5, 64] {
                let mut by_blocks = b"[".to_vec();
                list.write_json_items_by(&mut by_blocks, block).unwrap();
                by_blocks.push(b']');
                assert!(by_blocks == items, "{count} files, blocks of {block}");
            }
            assert_eq!(serde_json::to_vec(&list).unwrap(), items);
            let memory = FileList::from(files);
            let mut from_memory = b"[".to_vec();
            memory.write_json_items(&mut from_memory).unwrap();
            from_memory.push(b']');
            assert_eq!(from_memory, items);
        }
    }
}
