//! Command-line arguments shared by every chapter, and docker's rule for bad ones (exit 125).
//!
//! Later chapters `#[command(flatten)]` [`RunArgs`] into their own `run` arguments, so a flag added
//! here appears in every chapter, and a chapter adds only its own flags.

use crate::error::Error;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Every chapter binary's command line: `<binary> run [flags] -- CMD...`, where the flags are the
/// chapter's own `RunArgs` (which flatten the previous chapter's).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli<A: Args> {
    #[command(subcommand)]
    pub command: Command<A>,
}

#[derive(Debug, Subcommand)]
pub enum Command<A: Args> {
    /// Run CMD in a container (see --help for what this chapter isolates).
    Run(A),
}

/// `run --rootfs DIR [process flags] -- CMD [ARG]...`
#[derive(Debug, Clone, Args)]
// No argument group: every chapter flattens these, and clap wants group names unique.
#[group(skip)]
pub struct RunArgs {
    /// The directory that becomes the container's `/`.
    #[arg(long, value_name = "DIR")]
    pub rootfs: PathBuf,
    #[command(flatten)]
    pub process: ProcessArgs,
    /// The command and its arguments.
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// What describes the process itself, whatever its root is made of (chapter 4 reuses these for
/// images, whose command is optional: the image has one).
#[derive(Debug, Clone, Args)]
// No argument group: every chapter flattens these, and clap wants group names unique.
#[group(skip)]
pub struct ProcessArgs {
    /// Working directory inside the container (absolute; default `/`).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Set an environment variable (`K=V`), or pass the host's value of `K`.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Narrate every kernel call on stderr as it is made.
    #[arg(long)]
    pub trace: bool,
}

/// Parses `<name> run ARGS` into the chapter's `RunArgs`, named and described for its `--help`.
pub fn parse_run<A: Args + FromArgMatches>(name: &'static str, about: &'static str) -> A {
    let Command::Run(args) = parse::<Cli<A>>(name, about).command;
    args
}

/// Parses the command line into any clap parser `P` (chapter 4 has more subcommands than `run`),
/// with docker's rules for bad arguments.
pub fn parse<P: CommandFactory + FromArgMatches>(name: &'static str, about: &'static str) -> P {
    let command = P::command().name(name).bin_name(name).about(about);
    exit_on_error(command.try_get_matches().and_then(|matches| P::from_arg_matches(&matches)))
}

/// Handles a parse result like docker: `--help` and `--version` print and exit 0; any other problem
/// is one line on stderr and exit code 125, the code docker gives to its own failures.
fn exit_on_error<T>(result: Result<T, clap::Error>) -> T {
    match result {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{} (see --help)", one_line(&e.to_string()));
            std::process::exit(125)
        }
    }
}

/// clap's message is several lines (what is wrong, a tip, the usage); keep what is wrong. When the
/// first line ends in a colon (`the following required arguments were not provided:`), the names
/// that follow it belong to it.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).take_while(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: invalid arguments").to_string();
    match first.strip_suffix(':') {
        Some(head) => format!("{head}: {}", lines.collect::<Vec<_>>().join(", ")),
        None => first,
    }
}

/// Turns a chapter's result into the process exit code, printing a failure as one `error: ` line.
pub fn finish<E>(result: Result<u8, E>) -> ExitCode
where
    E: std::error::Error + ExitStatus,
{
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The error and its sources on one line, `outer: inner: innermost`, skipping repeats.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// An error that knows the docker exit code it stands for.
pub trait ExitStatus {
    fn exit_code(&self) -> u8;
}

impl ExitStatus for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
}
