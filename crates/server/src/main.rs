//! `accord`: the Accord server and its operator commands (see `accord --help`).

use clap::Parser;

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
