//! Ctrl-C (SIGINT) and SIGTERM during training: the first asks the run to stop after its
//! current step (it then writes its backup and History); a second exits at once.

use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first signal; `FitConfig::interrupt` watches it.
pub static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The exit status of a run ended by a signal, as shells report one ended by SIGINT.
pub const EXIT_STATUS: i32 = 130;

pub fn install() -> Result<()> {
    ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(EXIT_STATUS);
        }
        eprintln!("\ninterrupt: stopping after this step (again to exit at once)");
    })
    .context("cannot install the Ctrl-C handler")
}
