//! The process entry every binary shares, and its exit codes in one place:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (or stopped cleanly on SIGTERM/SIGINT) |
//! | 1 | failed at run time, or an operator command refused (the message says why) |
//! | 64 | bad usage: unknown flag, missing or conflicting arguments (sysexits `EX_USAGE`) |
//! | 78 | the configuration cannot be used (sysexits `EX_CONFIG`) |

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Run-time failure, or an operator command that refused.
pub const FAILED: u8 = 1;
/// Bad command-line usage (sysexits `EX_USAGE`).
pub const USAGE: u8 = 64;
/// Unusable configuration (sysexits `EX_CONFIG`).
pub const CONFIG: u8 = 78;

/// Parses the command line with clap, mapping clap's usage errors to
/// [`USAGE`] (help and version still exit 0).
pub fn parse_args<A: clap::Parser>() -> Result<A, ExitCode> {
    A::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Prints `error` once, prefixed with the binary's name, and returns `code`.
pub fn fail(binary: &str, code: u8, error: impl Display) -> ExitCode {
    eprintln!("{binary}: {error}");
    ExitCode::from(code)
}

/// Runs `main` on a multi-threaded tokio runtime. An error is printed once
/// (with its causes) and exits [`FAILED`].
pub fn run_async<F>(binary: &str, main: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(binary, FAILED, format!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(binary, FAILED, format!("{error:#}")),
    }
}

/// Runs an operator command on a small single-threaded runtime.
pub fn block_on<F>(binary: &str, command: F) -> ExitCode
where
    F: Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(error) => fail(binary, FAILED, format!("cannot start the runtime: {error}")),
    }
}
