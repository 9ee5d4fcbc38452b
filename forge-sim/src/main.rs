//! `gt-forge-sim`: run the forge simulator as a process, print where it listens, and
//! serve until interrupted. Drive it with the `/_sim` JSON API (see README.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use forge_sim::{ForgeSim, SimOptions};

#[derive(Parser)]
#[command(about = "A simulated GitHub (REST, git smart HTTP, signed webhooks) for gastown-bot")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0", env = "GT_SIM_LISTEN")]
    listen: SocketAddr,
    /// Keep repositories here instead of a temporary directory.
    #[arg(long, env = "GT_SIM_DATA")]
    data_dir: Option<PathBuf>,
    /// The GitHub App id whose JWTs are accepted.
    #[arg(long, default_value_t = 1)]
    app_id: u64,
    /// The app's RSA public key (PEM file): JWT signatures are verified against it.
    #[arg(long)]
    app_public_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let app_public_key_pem = match &args.app_public_key {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let sim = ForgeSim::start(SimOptions {
        bind: args.listen,
        data_dir: args.data_dir,
        app_id: args.app_id,
        app_public_key_pem,
        ..SimOptions::default()
    })
    .await?;
    println!("github api: {}", sim.github_api_url());
    println!("git:        {}/<owner>/<repo>.git", sim.web_url());
    println!("control:    {}", sim.control_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
