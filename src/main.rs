//! `switchboard`: runs the switch on a profile. Composes the layers: the runtime (sockets,
//! cores, store writer) serves the CTI API built here.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard::config::Profile;
use switchboard::cti::{self, ApiState};
use switchboard::runtime::{self, Overrides};

/// SIP/RTP softswitch for contact centers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The profile to run (TOML).
    #[arg(long, default_value = "sip-profiles/default.toml")]
    profile: PathBuf,
    /// SIP listen address (UDP and TCP), overriding `sip.listen`.
    #[arg(long)]
    sip_listen: Option<SocketAddr>,
    /// CTI HTTP listen address, overriding `http.listen`.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Database URL (`sqlite://file.db` or `postgres://...`), overriding `database.url`.
    #[arg(long)]
    database: Option<String>,
    /// Recordings directory, overriding `recordings.dir`.
    #[arg(long)]
    recordings: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let mut profile = Profile::load(&args.profile)?;
    Overrides {
        sip_listen: args.sip_listen,
        http_listen: args.http_listen,
        database: args.database,
        recordings: args.recordings,
    }
    .apply(&mut profile)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let api: runtime::ApiFactory =
        Box::new(|store, core, bus| cti::app(ApiState::new(store).with_core(core, bus)));
    rt.block_on(runtime::run(profile, api))
}
