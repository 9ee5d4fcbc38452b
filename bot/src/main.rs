//! The `gt` binary: parse the command line, set up logging, run.

use clap::Parser as _;

/// Ingest allocates and frees a body-sized buffer per delivery on every core; glibc's
/// allocator spends measurable time returning such memory to the kernel.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bot::cli::{Cli, Command, load_config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| bot::cli::explain_moved(e).exit());
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Agent-side commands (`gt agent …`) run inside the town with no server configuration.
    match cli.command {
        Command::Bench(cmd) => {
            init_logging(Some("warn"));
            return bot::harness::bench::run(cmd).await;
        }
        Command::Status { note } if !note.is_empty() => return Err(bot::cli::status_note_moved()),
        Command::Demo(args) => {
            init_logging(Some("warn"));
            return bot::harness::demo::run(args).await;
        }
        Command::TownImage(cmd) => {
            init_logging(Some("warn"));
            return bot::cli::run_town_image(cmd).await;
        }
        Command::Formula(cmd) => return bot::decisions::formula::cli::run(cmd, &cli.global),
        Command::Agent(cmd) => {
            init_logging(Some("warn"));
            return bot::agent::cli::run(cmd).await;
        }
        _ => {}
    }
    let config = load_config(&cli.global)?;
    init_logging(config.log.as_deref());
    match cli.command {
        Command::Serve => bot::app::server::serve(config).await,
        Command::Inbox(cmd) => bot::cli::run_inbox(&config, cmd).await,
        Command::Beads(cmd) => bot::cli::run_beads(&config, cmd).await,
        Command::Sling(cmd) => {
            bot::cli::open_store(&config)?;
            println!("{}", bot::controls::sling(config, cmd).await?);
            Ok(())
        }
        Command::Rig(cmd) => {
            let store = bot::cli::open_store(&config)?;
            bot::controls::run_rig(&config, &store, cmd).await
        }
        Command::Convoy(cmd) => {
            let store = bot::cli::open_store(&config)?;
            bot::controls::run_convoy(&store, cmd).await
        }
        Command::Escalations(cmd) => {
            let store = bot::cli::open_store(&config)?;
            bot::controls::run_escalations(&store, cmd).await
        }
        Command::Agents(cmd) => bot::cli::run_agents(&config, cmd).await,
        Command::Status { .. } => bot::cli::run_status(&config).await,
        _ => unreachable!("commands without a configuration are handled above"),
    }
}

/// `RUST_LOG` wins over the configured filter so a person can turn up logging ad hoc.
fn init_logging(configured: Option<&str>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| configured.map(String::from))
        .unwrap_or_else(|| "info,tower_http=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
