//! One module per subcommand: validated options in, calls on fuda-core, output out.

use std::process::ExitCode;

pub mod admin;
pub mod admin_doc;
pub mod classify;
pub mod edit;
pub mod envelope;
pub mod init;
pub mod inventory;
pub mod label;
pub mod ledger;
pub mod policy;
pub mod protect;
pub mod reclassify;
pub mod recovery;
pub mod save;
pub mod scan;
pub mod to_service;
pub mod trust;
pub mod watch;
mod watch_log;
pub mod watch_protect;
pub mod workcopy;

/// Exit code for findings (labels not valid, invalid policy).
pub fn exit_findings() -> ExitCode {
    ExitCode::from(1)
}

/// Exit code for errors.
pub fn exit_error() -> ExitCode {
    ExitCode::from(2)
}
