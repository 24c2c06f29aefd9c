//! fuda core.
#![forbid(unsafe_code)]

pub mod envelope;
