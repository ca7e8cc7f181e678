//! `accord`: the Accord server and its operator commands (see `accord --help`).

use clap::Parser;

// mimalloc rather than glibc's malloc: a request allocates and frees many
// small objects across the runtime's threads (GraphQL values, JSON, rows),
// and glibc's allocator was the largest single share of a profile of the
// API under load (docs/PERFORMANCE.md). It also hands freed memory back to
// the system instead of keeping it in per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = accord_server::cli::Cli::parse();
    match accord_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accord: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
