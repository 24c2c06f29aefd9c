//! The inventory as JSON: the same content as the workbook, for scripts, and the input of
//! next year's `fuda inventory --since`.

use std::io::Write;
use std::path::Path;

use super::LedgerError;
use crate::inventory::Inventory;

/// Writes the inventory as JSON (UTF-8, no byte-order mark, one line and a newline: a
/// million-file inventory stays a few hundred megabytes; `jq .` pretty-prints it).
pub fn to_writer(inventory: &Inventory, mut out: impl Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut out, inventory)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The inventory as JSON bytes (see [`to_writer`]).
pub fn render(inventory: &Inventory) -> Vec<u8> {
    let mut bytes = Vec::new();
    to_writer(inventory, &mut bytes).expect("writing to memory");
    bytes
}

/// Writes the inventory JSON to `dest` atomically, streaming it (never whole in memory).
pub fn write(inventory: &Inventory, dest: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: dest.to_owned(),
        source,
    };
    let mut tmp = fuda_core::fsutil::TempSibling::new(dest, super::OUTPUT_MODE).map_err(io)?;
    to_writer(
        inventory,
        std::io::BufWriter::with_capacity(1 << 20, tmp.file()),
    )
    .map_err(io)?;
    tmp.commit(dest).map_err(io)
}
