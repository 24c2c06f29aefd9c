//! fuda core.
#![forbid(unsafe_code)]
