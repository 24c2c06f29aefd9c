//! Man pages and shell completions generated from a command's clap definition.
//!
//! The `.deb` packages ship what `fuda generate` and `fuda-keyd generate` (a hidden
//! subcommand, for packagers) write at package build time, so the pages and completions
//! always describe the binary in the same package: nothing generated is checked in. See
//! `scripts/package`.
//!
//! Layout of the output directory:
//!
//! | what | files |
//! | --- | --- |
//! | `man` | `man/NAME.1`, and `man/NAME-SUB[-SUB…].1` for every visible subcommand |
//! | `completions` | `bash/NAME`, `zsh/_NAME`, `fish/NAME.fish` |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// Man pages (section 1), one per command and visible subcommand.
    Man,
    /// Completions for bash, zsh and fish.
    Completions,
}

/// The arguments of the hidden `generate` subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to write.
    #[arg(value_enum)]
    pub what: What,
    /// Directory to write into (created if missing; files in it are replaced).
    pub dir: PathBuf,
}

/// The name of the hidden subcommand.
pub const SUBCOMMAND: &str = "generate";

/// The hidden `generate` subcommand, to add to a command line beside its own subcommands.
/// It stays out of the command line it documents: no man page and no completion offer it.
pub fn subcommand() -> clap::Command {
    <Args as clap::Args>::augment_args(
        clap::Command::new(SUBCOMMAND)
            .hide(true)
            .about("Write the man pages or shell completions (for packagers; see scripts/package)"),
    )
}

/// When `matches` chose the `generate` subcommand: writes what it asks for about the
/// command line that `documented` returns (the one without `generate`), prints each file
/// written, one a line, and returns the exit code (2, with a message on stderr, when it
/// cannot write). `None` for any other subcommand.
pub fn dispatch(
    matches: &clap::ArgMatches,
    documented: impl FnOnce() -> clap::Command,
) -> Option<ExitCode> {
    let (SUBCOMMAND, matches) = matches.subcommand()? else {
        return None;
    };
    let args =
        <Args as clap::FromArgMatches>::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
    let cmd = documented();
    let name = cmd.get_name().to_owned();
    Some(match generate(cmd, args.what, &args.dir) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: cannot write into {}: {e}", args.dir.display());
            ExitCode::from(2)
        }
    })
}

/// Writes the man pages or completions of `cmd` under `dir`; returns the files written.
pub fn generate(cmd: clap::Command, what: What, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match what {
        What::Man => man_pages(cmd, &dir.join("man")),
        What::Completions => completions(cmd, dir),
    }
}

fn man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn pages(
        cmd: clap::Command,
        source: &str,
        dir: &Path,
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages(sub.clone(), source, dir, out)?;
        }
        let page = clap_mangen::Man::new(cmd)
            .source(source.to_owned())
            .manual("fuda");
        out.push(page.generate_to(dir)?);
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Every page's footer names the program and its version ("fuda 0.1.0").
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    // Built, every subcommand knows its full name (`fuda-label-set`), which names its page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    pages(cmd, source.trim(), dir, &mut written)?;
    Ok(written)
}

fn completions(mut cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for (shell, sub, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let sub = dir.join(sub);
        std::fs::create_dir_all(&sub)?;
        let path = sub.join(file);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        clap_complete::generate(shell, &mut cmd, &name, &mut out);
        std::io::Write::flush(&mut out)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line shaped like fuda's: nested subcommands.
    fn tool() -> clap::Command {
        clap::Command::new("tool")
            .version("1.2.3")
            .about("Labels files")
            .subcommand(
                clap::Command::new("label")
                    .about("Set and check labels")
                    .subcommand(
                        clap::Command::new("set")
                            .about("Label files with a level")
                            .arg(clap::Arg::new("level").required(true)),
                    ),
            )
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_command_gets_a_man_page_named_as_man_looks_it_up() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(tool(), What::Man, dir.path()).unwrap();
        assert_eq!(
            names(&written),
            ["tool-label-set.1", "tool-label.1", "tool.1"],
            "no page for help"
        );
        let page = std::fs::read_to_string(dir.path().join("man/tool-label-set.1")).unwrap();
        assert!(page.contains(".TH tool-label-set 1"), "{page}");
        assert!(page.contains("Label files with a level"), "{page}");
        assert!(
            page.contains("\"tool 1.2.3\""),
            "the footer names the program: {page}"
        );
    }

    #[test]
    fn completions_for_bash_zsh_and_fish_offer_the_subcommands() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(tool(), What::Completions, dir.path()).unwrap();
        assert_eq!(names(&written), ["tool", "_tool", "tool.fish"]);
        for path in &written {
            let script = std::fs::read_to_string(path).unwrap();
            assert!(script.contains("label"), "{}: {script}", path.display());
        }
        let bash = std::fs::read_to_string(dir.path().join("bash/tool")).unwrap();
        assert!(bash.contains("complete -F _tool"), "{bash}");
    }

    #[test]
    fn generate_runs_from_the_command_line_and_stays_out_of_what_it_documents() {
        let dir = tempfile::tempdir().unwrap();
        let cli = || tool().subcommand(subcommand());
        let out = dir.path().to_str().unwrap();
        for what in ["man", "completions"] {
            let matches = cli()
                .try_get_matches_from(["tool", "generate", what, out])
                .unwrap();
            assert_eq!(dispatch(&matches, tool), Some(ExitCode::SUCCESS));
        }
        assert!(dir.path().join("man/tool.1").is_file());
        assert!(!dir.path().join("man/tool-generate.1").exists());
        for script in ["bash/tool", "zsh/_tool", "fish/tool.fish"] {
            let text = std::fs::read_to_string(dir.path().join(script)).unwrap();
            assert!(!text.contains("generate"), "{script} offers generate");
        }
        let other = cli().try_get_matches_from(["tool", "label"]).unwrap();
        assert_eq!(
            dispatch(&other, tool),
            None,
            "other subcommands are the program's"
        );
        let bad = cli().try_get_matches_from(["tool", "generate", "pdf", out]);
        assert!(bad.is_err(), "an unknown kind is a usage error");
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        assert!(generate(tool(), What::Man, &file).is_err());
        assert!(generate(tool(), What::Completions, &file).is_err());
        let matches = tool()
            .subcommand(subcommand())
            .try_get_matches_from(["tool", "generate", "man", file.to_str().unwrap()])
            .unwrap();
        assert_eq!(dispatch(&matches, tool), Some(ExitCode::from(2)));
    }
}
