//! Guards for reading Office packages from untrusted sources, shared by everything that
//! opens one: the label store (reading labels, relabeling) and the scanner's text
//! extraction (`fuda-scan`).
//!
//! - [`xml`]: every element of an XML part is held to [`MAX_ATTRIBUTES`] attributes and
//!   [`MAX_NAMESPACES`] namespace declarations before anything looks at them.

pub mod xml;

pub use self::xml::{check_element, ElementError, MAX_ATTRIBUTES, MAX_NAMESPACES};
