//! `switchboard`: runs the switch on a profile. Composes the layers: the runtime (sockets,
//! cores, store writer) serves the CTI API built here.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard::config::Profile;
use switchboard::cti::{self, ApiState, LoginGuard, LoginPolicy, RateLimiter};
use switchboard::runtime::{self, Overrides};

/// mimalloc instead of glibc's malloc: a call parses, builds and drops dozens of small
/// messages and strings, and glibc's free lists cost 18 % of the switch's CPU under load.
/// Measured with `cargo bench --bench load -- --cps 2000 --cps-secs 20 --calls 10
/// --hold-secs 5`, alternating binaries in the same minutes: 362-368 µs of switch CPU per call
/// against 417-432 µs with glibc. Version 2 without transparent huge pages: version 3 and
/// huge pages each kept 15-30 MiB more resident. Resident memory after 20 s at 1,000 calls per
/// second: 86 MiB against 94 MiB with glibc (with the password hashing's memory cut, see
/// `store::passwords`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Database URL (`sqlite://file.db` or `postgres://...`), overriding `database.url` and
    /// the `SWITCHBOARD_DATABASE_URL` environment variable (which keeps a password out of
    /// the process list).
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
        database: args.database.or_else(|| {
            std::env::var("SWITCHBOARD_DATABASE_URL")
                .ok()
                .filter(|url| !url.is_empty())
        }),
        recordings: args.recordings,
    }
    .apply(&mut profile)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The SIP core is one task; other workers run the API, the store writer and stream
    // connections, and every hand-off from the core to a task on another worker costs a
    // thread wake-up. One worker per core beyond the first (so one on 2 cores) measured 15 %
    // less CPU per call at 2,500 calls/s than a worker per core, and a lower CTI latency
    // (README, "Runtime threads"). `TOKIO_WORKER_THREADS` still overrides it.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        builder.worker_threads(cores.saturating_sub(1).max(1));
    }
    let rt = builder.enable_all().build()?;
    let login = profile.cti.login;
    let sip_realm = profile.sip.domain.clone();
    let profile_trunks = profile.profile_trunks();
    let api: runtime::ApiFactory = Box::new(move |store, core, bus| {
        let limiter = RateLimiter::new(
            login.attempts_burst,
            Duration::from_secs(login.attempt_refill_secs),
        );
        let guard = LoginGuard::new(LoginPolicy {
            lockout_after: login.lockout_after,
            lockout: Duration::from_secs(login.lockout_secs),
            ban_after: login.ban_after,
            ban: Duration::from_secs(login.ban_secs),
            window: Duration::from_secs(login.window_secs),
        });
        let state = ApiState::new(store)
            .with_core(core, bus)
            .with_login_protection(limiter, guard)
            .with_sip_realm(sip_realm)
            .with_profile_trunks(profile_trunks);
        cti::app(state)
    });
    rt.block_on(runtime::run(profile, api))
}
