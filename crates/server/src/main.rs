//! The `gatehouse` binary.

use std::process::ExitCode;

use clap::Parser;
use gatehouse_server::cli::{Cli, Command, run};
use gatehouse_server::config::Settings;
use gatehouse_server::telemetry;

fn main() -> ExitCode {
    // Before the runtime starts any thread: changing the environment is sound only while the
    // process has one thread.
    if let Err(err) = gatehouse_server::dotenv::load_working_directory() {
        eprintln!("{err}");
        return ExitCode::from(2);
    }
    async_main()
}

#[tokio::main]
async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            // One line, no backtrace: the operator needs the key and the reason.
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.logging);
    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
