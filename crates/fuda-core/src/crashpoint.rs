//! Crash points: the durable steps of every file write, numbered so that a test can end
//! the process just before any one of them, like a power cut (`tests/crash_points.rs`).
//!
//! Every step that changes what is on disk calls [`reached`] first: creating a temporary
//! file, writing it, setting its mode, syncing it, linking, renaming or removing a file,
//! setting or removing an extended attribute, syncing a folder. In a debug build (the
//! build the tests run), two environment variables act on them:
//!
//! - `FUDA_CRASH_COUNT=FILE` appends each step's name to `FILE`, one line per step, so
//!   the number of lines is the number of crash points a command has;
//! - `FUDA_CRASH_AT=N` kills the process with SIGKILL just before the `N`-th step (from
//!   1): no destructor, signal handler or exit hook runs, and no core file is written.
//!
//! A release build (the packages) compiles [`reached`] to nothing and reads neither
//! variable: the hook is `cfg(debug_assertions)` rather than a cargo feature so that the
//! `fuda` binary `cargo build` makes for the end-to-end tests always has it, without a
//! feature that could be forgotten or, unified across the workspace, leak into a package.

/// A durable step of a file write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A (temporary) file is created.
    Create,
    /// A temporary file gets its content.
    Write,
    /// A file's permission bits are set.
    SetMode,
    /// A file is flushed to disk (`fsync`).
    Sync,
    /// A file is given a (further) name.
    Link,
    /// A file is renamed, maybe over another.
    Rename,
    /// A name is removed.
    Remove,
    /// An extended attribute is set.
    SetAttr,
    /// An extended attribute is removed.
    RemoveAttr,
    /// A folder is flushed to disk, making a rename or link durable.
    SyncDir,
}

impl Step {
    /// The step's name, as `FUDA_CRASH_COUNT` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Write => "write",
            Step::SetMode => "set-mode",
            Step::Sync => "sync",
            Step::Link => "link",
            Step::Rename => "rename",
            Step::Remove => "remove",
            Step::SetAttr => "set-attr",
            Step::RemoveAttr => "remove-attr",
            Step::SyncDir => "sync-dir",
        }
    }
}

/// Called just before `step` changes the disk. Does nothing in a release build.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn reached(_step: Step) {}

/// Called just before `step` changes the disk: counts it and, when `FUDA_CRASH_AT` names
/// it, ends the process with SIGKILL.
#[cfg(debug_assertions)]
pub fn reached(step: Step) {
    armed::reached(step)
}

#[cfg(debug_assertions)]
mod armed {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use super::Step;

    /// What the environment asked for, read once.
    struct Plan {
        at: Option<u64>,
        count: Option<PathBuf>,
    }

    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    static STEPS: AtomicU64 = AtomicU64::new(0);

    fn plan() -> Option<&'static Plan> {
        PLAN.get_or_init(|| {
            let at = std::env::var("FUDA_CRASH_AT")
                .ok()
                .and_then(|n| n.trim().parse().ok());
            let count = std::env::var_os("FUDA_CRASH_COUNT").map(PathBuf::from);
            (at.is_some() || count.is_some()).then_some(Plan { at, count })
        })
        .as_ref()
    }

    pub(super) fn reached(step: Step) {
        let Some(plan) = plan() else { return };
        let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
        if plan.at == Some(n) {
            eprintln!(
                "fuda: crash point {n} ({}): killing the process",
                step.name()
            );
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            std::process::abort();
        }
        if let Some(count) = &plan.count {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(count)
                .and_then(|mut f| writeln!(f, "{}", step.name()));
            if let Err(e) = appended {
                eprintln!(
                    "fuda: cannot count crash points in {}: {e}",
                    count.display()
                );
            }
        }
    }
}
