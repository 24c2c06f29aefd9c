//! Holder for fuda's end-to-end tests (`tests/`) and benchmarks (`benches/`).
#![forbid(unsafe_code)]
