//! fuda auto-labeling: reading what files say and proposing the label they need.
//!
//! - [`extract`]: the text of plain files (any Japanese encoding), Office documents and
//!   PDFs, within a budget;
//! - [`detect`]: detectors over that text (markings, My Number, card numbers, keywords);
//! - [`rules`]: the policy's auto-labeling rules, which turn detections into a proposed
//!   level;
//! - [`memory`]: the label memory of watched trees, which puts labels back after an editor
//!   saved a copy without them;
//! - [`watch`]: what `fuda watch` decides when files appear, change, move or lose their
//!   labels (the inotify and signal plumbing stays in the CLI);
//! - [`resume`]: the progress of `fuda scan --apply`, so that an interrupted scan resumes.
//!
//! See docs/architecture.md for how this crate sits between `fuda-core` and the CLI.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod detect;
pub mod extract;
pub mod memory;
pub mod resume;
pub mod rules;
pub mod watch;
