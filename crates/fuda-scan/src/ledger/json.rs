//! The inventory as JSON: the same content as the workbook, for scripts, and the input of
//! next year's `fuda inventory --since`.

use std::path::Path;

use super::LedgerError;
use crate::inventory::Inventory;

/// The inventory as pretty-printed JSON (UTF-8, no byte-order mark, trailing newline).
pub fn render(inventory: &Inventory) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(inventory).expect("inventory serialises");
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
