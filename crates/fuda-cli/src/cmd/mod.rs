//! One module per subcommand: validated options in, calls on fuda-core, output out.

use std::process::ExitCode;

pub mod admin;
pub mod classify;
pub mod envelope;
pub mod init;
pub mod inventory;
pub mod label;
pub mod ledger;
pub mod policy;
pub mod protect;
pub mod recovery;
pub mod scan;
pub mod trust;
pub mod watch;

/// Exit code for findings (labels not valid, invalid policy).
pub fn exit_findings() -> ExitCode {
    ExitCode::from(1)
}

/// Exit code for errors.
pub fn exit_error() -> ExitCode {
    ExitCode::from(2)
}
