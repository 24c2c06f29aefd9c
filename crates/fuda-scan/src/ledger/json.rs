//! The inventory as JSON: the same content as the workbook, for scripts, and the input of
//! next year's `fuda inventory --since`.

use std::path::Path;

use super::LedgerError;
use crate::inventory::Inventory;

/// The inventory as JSON (UTF-8, no byte-order mark, one line and a newline: a
/// million-file inventory stays a few hundred megabytes; `jq .` pretty-prints it).
pub fn render(inventory: &Inventory) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(inventory).expect("inventory serialises");
    bytes.push(b'\n');
    bytes
}

/// Writes the inventory JSON to `dest` atomically.
pub fn write(inventory: &Inventory, dest: &Path) -> Result<(), LedgerError> {
    fuda_core::fsutil::write_atomic(dest, &render(inventory), super::OUTPUT_MODE).map_err(
        |source| LedgerError::Io {
            path: dest.to_owned(),
            source,
        },
    )
}
