//! The `api` binary: settings → telemetry → state → serve until SIGTERM/SIGINT.

use clap::Parser;
use platform::settings::{ApiArgs, CommonArgs, LOG_FILTER_HELP};
use platform::Settings;

/// mimalloc: glibc's malloc and free were a sixth of the api's CPU under load (issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every setting is an environment variable (or the flag of the same name); `--help` lists them.
#[derive(Parser)]
#[command(name = "api", version, about = "Loyalty engine HTTP ingress and query API", after_help = LOG_FILTER_HELP)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    api: ApiArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::for_api(cli.common, cli.api)?;
    platform::telemetry::init_logging(settings.log_json);
    let served = serve(settings).await;
    // The last log lines and spans out before the process ends (the log writer is a thread).
    platform::telemetry::shutdown();
    served
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    platform::telemetry::metrics();
    tracing::info!(?settings, "starting api");
    let addr = settings.api_addr.clone();
    let state = api::AppState::from_settings(settings).await?;
    if let Err(e) = state.publisher.ensure_connected().await {
        // Not fatal: events get 503 until the broker is back, and /readyz says why.
        tracing::warn!(error = %e, "RabbitMQ is not reachable yet");
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "listening");
    api::serve(state, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    platform::shutdown::signal().await;
    tracing::info!("shutting down: draining in-flight requests");
}
