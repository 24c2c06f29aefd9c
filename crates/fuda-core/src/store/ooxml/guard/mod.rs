//! Guards for reading Office packages from untrusted sources, shared by everything that
//! opens one: the label store (reading labels, the content digest, relabeling) and the
//! scanner's text extraction (`fuda-scan`).
//!
//! - [`zip`]: the package's directory is checked before anything is inflated (at most
//!   [`MAX_ENTRIES`] entries, no two entries sharing bytes of the file), and every entry
//!   is inflated through an [`Unpacker`] that holds the package to a [`Budget`]: a ratio
//!   per entry and a total, counted on what actually comes out, never on declared sizes.
//! - [`xml`]: every element of an XML part is held to [`MAX_ATTRIBUTES`] attributes and
//!   [`MAX_NAMESPACES`] namespace declarations before anything looks at them.
//!
//! ```
//! use fuda_core::store::ooxml::guard::{check_layout, Budget, Unpacker};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let bytes = {
//! #     use std::io::Write;
//! #     let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
//! #     z.start_file("a.xml", zip::write::SimpleFileOptions::default())?;
//! #     z.write_all(b"<a/>")?;
//! #     z.finish()?.into_inner()
//! # };
//! let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
//! check_layout(&mut zip)?;
//! let mut unpacker = Unpacker::new(Budget::LABELING);
//! let part = unpacker.read(&mut zip, 0, 1 << 20)?;
//! assert_eq!(part, b"<a/>");
//! # Ok(()) }
//! ```

pub mod xml;
pub mod zip;

pub use self::xml::{check_element, ElementError, MAX_ATTRIBUTES, MAX_NAMESPACES};
pub use self::zip::{check_layout, Budget, GuardError, Unpacker, MAX_ENTRIES, RATIO_EXEMPT};
