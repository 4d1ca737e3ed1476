//! The IO shell: binds sockets, runs the switch and contact-center cores in one task,
//! carries out their outputs, persists what they ask for and serves the API it is given.
//!
//! One task owns the [`Switch`] and the [`ContactCenter`] (no locks around SIP or routing
//! state). It reads the SIP UDP socket itself, waits on bounded channels (SIP bytes from
//! stream connections, media events, persistence acknowledgements, API requests, shutdown)
//! and on the cores' next timer, feeds what arrives in, and drains every output before
//! waiting again. It does not know the CTI API: `main.rs` hands it the router to serve
//! ([`ApiFactory`]).

pub use crate::clock;
mod dns_client;
pub mod exposure;
pub mod http;
pub mod media;
mod media_shard;
pub mod recording;
mod recovery;
mod socket_pool;
mod store_writer;
mod switch_setup;
pub mod transport;

use crate::bus::events::EventBus;
use crate::bus::requests::{CoreHandle, CoreRequest};
use crate::call::trunks::TrunkSet;
use crate::call::{MediaCommand, MediaEvent, RngSeed, SourceLimits, Switch, SwitchConfig};
use crate::center::{ContactCenter, Job, routing_settings};
use crate::config::Profile;
use crate::media::player::Announcement;
use crate::node::{Node, Output};
use crate::routing::{Acd, Command};
use crate::sip::digest::StoredSecret;
use crate::sip::registrar::{BindingChange, PersistedBinding, RegistrarConfig, Transport};
use crate::sip::transaction::Timing;
use crate::store::{Cdr, CdrStage, Store, StoredBinding, UnixMillis};
use anyhow::Context;
use dns_client::DnsClient;
use media::MediaEngine;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use store_writer::*;
use switch_setup::*;
use tokio::sync::{mpsc, oneshot};
use transport::{Inbound, Peer, TcpLimits, TransportKind, Transports, UdpReader, UdpReading};

/// Command-line overrides of profile keys.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub sip_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub recordings: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to a loaded profile and checks it again.
    pub fn apply(&self, profile: &mut Profile) -> anyhow::Result<()> {
        if let Some(a) = self.sip_listen {
            profile.sip.listen = a;
        }
        if let Some(a) = self.http_listen {
            profile.http.listen = a;
        }
        if let Some(d) = &self.database {
            profile.database.url = d.clone();
        }
        if let Some(r) = &self.recordings {
            profile.recordings.dir = r.clone();
        }
        profile.validate()?;
        Ok(())
    }
}

/// Work for the single store writer, in the order the core produced it.
enum StoreJob {
    /// Interactions, CAD and agent states from the contact center.
    ContactCenter(Job),
    Binding(BindingChange),
    Cdr {
        token: u64,
        cdr: Box<Cdr>,
    },
    /// A call's record while it is up: start, answer, a new agent (the crash journal).
    CdrInProgress(Box<Cdr>),
}

/// Builds the HTTP API over the store, the core's request channel and the event bus.
pub type ApiFactory = Box<dyn FnOnce(Store, CoreHandle, EventBus) -> axum::Router + Send>;

/// Runs the switch until SIGINT or SIGTERM.
pub async fn run(profile: Profile, api: ApiFactory) -> anyhow::Result<()> {
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = shutdown_tx.send(());
    });
    serve(profile, api, shutdown_rx).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The rustls configuration of a `[sip.tls]` or `[http.tls]` section.
fn tls_config(
    profile: &Profile,
    tls: &crate::config::TlsSettings,
    alpn: &[&[u8]],
) -> anyhow::Result<std::sync::Arc<tokio_rustls::rustls::ServerConfig>> {
    let files = profile.tls_files(tls);
    crate::tls::server_config(&files, alpn)
        .with_context(|| format!("loading the TLS certificate {}", files.cert.display()))
}

/// Starts SIP over TLS when the profile has `[sip.tls]`; the port to advertise on TLS legs.
async fn listen_sip_tls(profile: &Profile, transports: &Transports) -> anyhow::Result<Option<u16>> {
    let Some(tls) = &profile.sip.tls else {
        return Ok(None);
    };
    let listen = tls.listen.context("sip.tls.listen is required")?;
    let config = tls_config(profile, tls, &[])?;
    let local = transports
        .listen_tls(listen, config)
        .await
        .with_context(|| format!("binding SIP over TLS on {listen}"))?;
    tracing::info!(tls = %local, "SIP over TLS listening");
    Ok(Some(local.port()))
}

/// Runs the switch until `shutdown` fires.
pub async fn serve(
    profile: Profile,
    api: ApiFactory,
    shutdown: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let admin_password = exposure::configured_admin_password(&profile)?;
    let store = Store::connect(&profile.database.url)
        .await
        .context("opening the database")?;
    exposure::refuse_lab_secrets_off_loopback(&profile, &store, admin_password.as_deref()).await?;
    exposure::seed_first_admin(&profile, &store, admin_password).await?;
    // Before the API answers or anything new is written: history first says what a crash
    // interrupted.
    recovery::close_what_a_crash_left(&store).await;
    tokio::spawn(recovery::heartbeat(store.clone()));
    recording::create_private_dir(&profile.recordings.dir).with_context(|| {
        format!(
            "creating the recordings directory {}",
            profile.recordings.dir.display()
        )
    })?;

    let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(16_384);
    let (failed_tx, failed_rx) = mpsc::channel::<Peer>(1024);
    let tcp = profile.sip.tcp;
    let limits = TcpLimits {
        max_connections: tcp.max_connections,
        max_per_source: tcp.max_per_source,
        idle_timeout: Duration::from_secs(tcp.idle_timeout_secs),
    };
    let transports = Transports::bind_with(
        profile.sip.listen,
        inbound_tx,
        failed_tx,
        limits,
        UdpReading::Caller,
    )
    .await
    .with_context(|| format!("binding SIP on {}", profile.sip.listen))?;
    let advertised = SocketAddr::new(profile.advertised_ip(), transports.local.port());
    tracing::info!(udp = %transports.local, tcp = %transports.local, advertised = %advertised, "SIP listening");
    let tls_port = listen_sip_tls(&profile, &transports).await?;

    let http = tokio::net::TcpListener::bind(profile.http.listen)
        .await
        .with_context(|| format!("binding HTTP on {}", profile.http.listen))?;
    let https = match &profile.http.tls {
        Some(tls) => Some(tls_config(&profile, tls, &[b"http/1.1"])?),
        None => None,
    };
    let scheme = if https.is_some() { "https" } else { "http" };
    tracing::info!(addr = %http.local_addr()?, scheme, "CTI API listening");
    let bus = EventBus::new();
    let (core_handle, core_requests) = CoreHandle::channel();
    // The API's trunk changes queue here until the start-up set is in place (below).
    let (trunk_reloads, reload_requests) = mpsc::channel(TRUNK_RELOADS);
    let trunk_keeper = core_handle.clone();
    let app = api(store.clone(), core_handle, bus.clone());
    tokio::spawn(http::serve(
        http,
        app,
        http::HttpLimits {
            header_read_timeout: Duration::from_secs(profile.http.header_read_timeout_secs),
            max_connections: profile.http.max_connections,
        },
        https,
    ));

    let (media_tx, media_rx) = mpsc::channel::<MediaEvent>(4096);
    let media_bind = if profile.sip.listen.ip().is_unspecified() {
        profile.sip.listen.ip()
    } else {
        profile.advertised_ip()
    };
    let mut engine = MediaEngine::new(media_bind, profile.rtp_timeout(), media_tx);
    engine.defer_wakes();

    let (persisted_tx, persisted_rx) = mpsc::channel::<u64>(4096);
    let (store_tx, store_rx) = mpsc::channel::<StoreJob>(16_384);
    let writer = tokio::spawn(store_writer(store.clone(), store_rx, persisted_tx));

    // 256 bits from the OS for the switch's CSPRNG (nonce key, tags, Call-IDs, ids).
    let mut seed = RngSeed([0u8; 32]);
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed.0)
        .context("reading the OS random number generator")?;
    let now = clock::now();
    let extensions = extensions(&profile, &store).await?;
    tracing::info!(extensions = extensions.len(), "extensions loaded");
    let merged = merged_trunks(&profile, &store)
        .await
        .context("loading trunks, DIDs and routes")?;
    let mut gateways = Gateways::new(
        DnsClient::for_profile(&profile),
        seed_gateway_order()?,
        transports.tls_gateways(),
    );
    let trunks = gateways.trunk_set(&merged).await;
    tokio::spawn(keep_trunks(
        profile.clone(),
        store.clone(),
        trunk_keeper,
        reload_requests,
        (merged.clone(), gateways, trunks.clone()),
    ));
    let mut switch = Switch::new(
        switch_config(&merged, advertised, tls_port, seed, extensions, trunks),
        now,
        clock::unix_now(),
    );
    // Stored extensions' calling classes (the profile's are in the switch's config already).
    for e in store
        .list_extensions()
        .await
        .context("loading extensions")?
    {
        if let Some(class) = e.calling_class {
            switch.set_calling_class(&e.user, Some(class));
        }
    }
    switch.set_port_binder(Box::new(engine.port_binder()));
    switch.set_source_limits(source_limits(&profile));
    let restored = store
        .load_registrations(UnixMillis(clock::unix_ms()))
        .await
        .context("loading registrations")?;
    let count = restored.len();
    for b in restored {
        if let Some(persisted) = to_persisted(&b) {
            switch.restore_binding(clock::now(), &b.aor, persisted);
        }
    }
    tracing::info!(bindings = count, "registrations restored");

    let music = load_music(&profile);
    let cc = load_contact_center(&store, &profile).await?;
    let mut core = CoreLoop {
        node: Node::new(switch, cc, clock::now()),
        music,
        ringback: Announcement::ringback(),
        music_cache: HashMap::new(),
        profile_dir: profile
            .music_on_hold_path()
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
        bus,
        transports,
        engine,
        store_tx,
        trunk_reloads,
    };
    // A task of the runtime rather than the main thread's `block_on`: the worker that sees a
    // socket ready runs the loop itself, where the main thread had to be woken for every
    // message (a fifth of the switch's CPU went to those wake-ups at 800 calls per second).
    let core_task = tokio::spawn(async move {
        core.run(
            (inbound_rx, failed_rx),
            media_rx,
            persisted_rx,
            core_requests,
            shutdown,
        )
        .await;
    });
    let core_result = core_task.await;
    // Let the writer finish what it was given, then close the pool cleanly.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    store.close().await;
    core_result.context("the core task failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// A seed from the OS for the order of a gateway's equal-priority SRV targets.
fn seed_gateway_order() -> anyhow::Result<u64> {
    rand::TryRngCore::try_next_u64(&mut rand::rngs::OsRng)
        .context("reading the OS random number generator")
}

/// The ACD configured from the database: org settings, queues and agents (all logged out: a
/// restart ends every session). [`Node::new`] tells the switch the queues' numbers.
async fn load_contact_center(store: &Store, profile: &Profile) -> anyhow::Result<ContactCenter> {
    mark_interrupted_recordings(store).await;
    let settings = store.get_settings().await.context("loading org settings")?;
    let now = clock::now();
    let mut acd = Acd::new(routing_settings(&settings));
    let queues = store.list_queues().await.context("loading queues")?;
    let queue_count = queues.len();
    for queue in queues {
        acd.handle_command(now, Command::UpsertQueue(queue))?;
    }
    let agents = store.list_agents().await.context("loading agents")?;
    for agent in agents.iter().filter(|a| a.enabled) {
        acd.handle_command(now, Command::UpsertAgent(agent.config()))?;
    }
    let remembered = seed_last_agents(store, &mut acd, &agents, &settings, now).await?;
    tracing::info!(
        queues = queue_count,
        agents = agents.len(),
        remembered,
        "contact center loaded"
    );
    // Configuration commands produce no work for anyone yet.
    while acd.poll_output().is_some() {}
    let mut center = ContactCenter::new(
        acd,
        settings,
        profile.recordings.dir.clone(),
        now,
        clock::unix_now(),
    );
    restore_callbacks(store, &mut center, now).await?;
    Ok(center)
}

/// Callbacks still pending when the switch stopped go back to their queues (a scheduled one
/// keeps its time, a retrying one is due at once), so a customer's request is not lost to a
/// restart. One whose queue is gone stays pending in the database, logged.
async fn restore_callbacks(
    store: &Store,
    center: &mut ContactCenter,
    now: std::time::Instant,
) -> anyhow::Result<()> {
    let pending = store
        .list_callbacks(Some(crate::store::CallbackStatus::Pending), u32::MAX >> 1)
        .await
        .context("loading pending callbacks")?;
    let count = pending.len();
    // Listed newest first; filed again oldest first, so they keep their order.
    for callback in pending.into_iter().rev() {
        // The pop-up shows the CAD the callback was filed with, as stored (edits included).
        let cad = store
            .list_cad(&callback.interaction)
            .await
            .context("loading a pending callback's CAD")?
            .into_iter()
            .map(|v| crate::call::CadFromSip {
                key: v.key,
                value: v.value,
                secure: v.secure,
            })
            .collect();
        let request = crate::center::CallbackRequest {
            interaction: callback.interaction.clone(),
            queue: callback.queue,
            number: callback.number,
            dnis: callback.dnis,
            at: callback.scheduled_ms,
            attempts: callback.attempts,
            widget: callback.widget,
            cad,
            restored: true,
        };
        if let Err(error) = center.callback(now, request) {
            tracing::warn!(interaction = %callback.interaction, %error, "a pending callback could not be restored");
        }
    }
    if count > 0 {
        tracing::info!(count, "pending callbacks back in their queues");
    }
    Ok(())
}

/// Last-agent routing's memory, as the stored interactions left it: each caller's newest
/// connected agent (if still enabled), oldest first so the newest are kept longest.
async fn seed_last_agents(
    store: &Store,
    acd: &mut Acd,
    agents: &[crate::store::Agent],
    settings: &crate::store::OrgSettings,
    now: std::time::Instant,
) -> anyhow::Result<usize> {
    let memory = routing_settings(settings).last_agent_memory;
    let enabled: std::collections::HashSet<&str> = agents
        .iter()
        .filter(|a| a.enabled)
        .map(|a| a.id.as_str())
        .collect();
    let last = store
        .last_agents(memory)
        .await
        .context("loading last agents")?;
    let mut remembered = 0;
    for (ani, agent) in last.into_iter().rev() {
        if enabled.contains(agent.as_str()) {
            acd.handle_command(now, Command::RememberLastAgent { ani, agent })?;
            remembered += 1;
        }
    }
    Ok(remembered)
}

/// Recordings still marked as being written belong to a switch that died: their WAV headers
/// are repaired from the data length and they are marked interrupted, not lost.
async fn mark_interrupted_recordings(store: &Store) {
    let unfinished = match store.unfinished_recordings().await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(%error, "listing unfinished recordings failed");
            return;
        }
    };
    for row in unfinished {
        let wav = PathBuf::from(&row.path);
        if let Err(error) = crate::media::recorder::repair(&wav) {
            tracing::warn!(path = %wav.display(), %error, "repairing an interrupted recording failed");
        }
        let _ = crate::media::recorder::mark_interrupted(&wav.with_extension("json"));
        let at = UnixMillis(clock::unix_ms());
        if let Err(error) = store
            .recording_ended(
                &row.interaction,
                crate::store::RecordingStatus::Interrupted,
                Some("the switch stopped while recording"),
                at,
            )
            .await
        {
            tracing::error!(%error, "marking a recording interrupted failed");
        }
        tracing::warn!(interaction = %row.interaction, "recording interrupted by a restart; kept");
    }
}

/// Music on hold from the profile's `media.music_on_hold`, or a generated chime when it is
/// missing or unreadable (logged, never fatal: callers must still hear something).
fn load_music(profile: &Profile) -> Announcement {
    let path = profile.music_on_hold_path();
    match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| Announcement::from_wav(&b).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "music on hold unavailable; using a generated chime");
            Announcement::chime()
        }
    }
}

fn to_persisted(b: &StoredBinding) -> Option<PersistedBinding> {
    let transport = match b.transport.as_str() {
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        "udp" => Transport::Udp,
        _ => return None,
    };
    Some(PersistedBinding {
        contact_uri: b.contact_uri.clone(),
        expires_unix: u64::try_from(b.expires_at.0 / 1000).ok()?,
        updated_unix: 0,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        q: b.q.as_deref().and_then(|q| q.parse().ok()),
        received: Some(b.received),
        transport,
        instance: None,
        reg_id: None,
    })
}

struct CoreLoop {
    /// The switch and the contact center (the ACD and the business stages of queue calls).
    node: Node,
    /// Music on hold, decoded once.
    music: Announcement,
    /// The ringing tone an agent hears while its click-to-dial customer rings.
    ringback: Announcement,
    /// Queues' own music, decoded on first use.
    music_cache: HashMap<String, Announcement>,
    /// The profile's directory, which queue music paths are relative to.
    profile_dir: PathBuf,
    /// Where the contact center's events go to desktops.
    bus: EventBus,
    transports: Transports,
    engine: MediaEngine,
    store_tx: mpsc::Sender<StoreJob>,
    /// Where the API's trunk changes go to be loaded and located (see [`keep_trunks`]).
    trunk_reloads: mpsc::Sender<oneshot::Sender<()>>,
}

/// Trunk reloads waiting at most; beyond, the API answers 503 (one load serves them all).
const TRUNK_RELOADS: usize = 64;

impl CoreLoop {
    async fn run(
        &mut self,
        (mut inbound, mut failed): (mpsc::Receiver<Inbound>, mpsc::Receiver<Peer>),
        mut media: mpsc::Receiver<MediaEvent>,
        mut persisted: mpsc::Receiver<u64>,
        mut requests: mpsc::Receiver<CoreRequest>,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        // One timer entry for the whole loop, moved only when the cores' deadline moves: a
        // new `Sleep` each round registered and deregistered a timer with the runtime for
        // every batch of messages.
        let sleep = tokio::time::sleep_until(clock::now().into());
        tokio::pin!(sleep);
        let mut armed = None;
        let mut udp = self.transports.udp_reader();
        loop {
            self.drain().await;
            // Due timers go before any waiting input. The select below is biased and takes
            // timers last, so under a steady inbound stream (a saturated core always has a
            // message queued) they never ran: lost INVITEs were not retransmitted (Timer A)
            // and their calls failed with 408 once Timer B finally fired, tens of seconds
            // late.
            let now = clock::now();
            if self.node.poll_timeout().is_some_and(|at| at <= now) {
                self.node.handle_timeout(now);
                self.drain().await;
            }
            let deadline = self.node.poll_timeout();
            if deadline != armed {
                if let Some(at) = deadline {
                    sleep.as_mut().reset(at.into());
                }
                armed = deadline;
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(token) = persisted.recv() => self.node.handle_persisted(clock::now(), token),
                Some(event) = media.recv() => self.node.handle_media_event(clock::now(), event),
                Some(request) = requests.recv() => match request {
                    CoreRequest::ReloadTrunks { reply } => {
                        // Dropping `reply` when the reloader is swamped tells the API 503.
                        let _ = self.trunk_reloads.try_send(reply);
                    }
                    request => request.dispatch(&mut self.node, clock::now()),
                },
                () = udp.readable() => self.read_udp(&mut udp),
                Some(msg) = inbound.recv() => {
                    self.handle_inbound(msg);
                    // Under load messages queue up while the core works: take what is
                    // already there before draining, so one wake-up, one timer
                    // registration and one round of sends serve a batch rather than a
                    // single message. Bounded, so timers and other inputs are not starved.
                    for _ in 1..INBOUND_BATCH {
                        match inbound.try_recv() {
                            Ok(msg) => self.handle_inbound(msg),
                            Err(_) => break,
                        }
                    }
                }
                Some((peer, kind)) = failed.recv() => {
                    self.node.handle_transport_error(clock::now(), peer, kind.protocol());
                }
                _ = &mut sleep, if armed.is_some() => {
                    // Fired: re-armed next round even if the deadline stays the same.
                    armed = None;
                    self.node.handle_timeout(clock::now());
                }
            }
        }
        tracing::info!(
            calls = self.node.switch().call_count(),
            "shutting down: ending calls"
        );
        self.node.handle_shutdown(clock::now());
        self.drain().await;
        // Give BYEs a moment to be answered and CDRs to be written.
        let grace = clock::now() + Duration::from_millis(500);
        while clock::now() < grace {
            tokio::select! {
                Some(token) = persisted.recv() => self.node.handle_persisted(clock::now(), token),
                Some(msg) = inbound.recv() => self.handle_inbound(msg),
                () = udp.readable() => self.read_udp(&mut udp),
                _ = tokio::time::sleep_until(grace.into()) => {}
            }
            self.drain().await;
        }
    }

    /// The datagrams waiting on the SIP UDP socket, parsed where they were read; a batch at
    /// most, like the channel's, so timers and other inputs are not starved.
    fn read_udp(&mut self, udp: &mut UdpReader) {
        for _ in 0..INBOUND_BATCH {
            let Some((from, bytes)) = udp.try_recv() else {
                break;
            };
            self.node
                .handle_datagram(clock::now(), from, Transport::Udp, bytes);
        }
    }

    fn handle_inbound(&mut self, msg: Inbound) {
        self.node
            .handle_datagram(clock::now(), msg.from, msg.transport.protocol(), &msg.bytes);
    }

    /// A queue's music, decoded once; the profile's music when the file is missing or bad
    /// (logged once: callers must hear something).
    fn queue_music(&mut self, path: &str) -> Announcement {
        if let Some(found) = self.music_cache.get(path) {
            return found.clone();
        }
        let full = self.profile_dir.join(path);
        let loaded = std::fs::read(&full)
            .map_err(|e| e.to_string())
            .and_then(|b| Announcement::from_wav(&b).map_err(|e| e.to_string()))
            .unwrap_or_else(|error| {
                tracing::warn!(path = %full.display(), %error, "queue music unavailable; using the profile's");
                self.music.clone()
            });
        // Bounded: one entry per configured queue music file, at most.
        if self.music_cache.len() < 256 {
            self.music_cache.insert(path.to_owned(), loaded.clone());
        }
        loaded
    }

    fn apply_media(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Open { endpoint, rtp_port } => self.engine.open(endpoint, rtp_port),
            MediaCommand::Configure {
                endpoint,
                remote,
                negotiated,
                direction,
                rtcp_mux: _,
                latch,
            } => self
                .engine
                .configure(endpoint, remote, negotiated, direction, latch),
            MediaCommand::Establish { endpoint } => self.engine.establish(endpoint),
            MediaCommand::Bridge { a, b } => self.engine.bridge(a, b),
            MediaCommand::PlayMusic { endpoint, music } => {
                let announcement = match music {
                    Some(path) => self.queue_music(&path),
                    None => self.music.clone(),
                };
                self.engine.play(endpoint, announcement);
            }
            MediaCommand::PlayRingback { endpoint } => {
                self.engine.play(endpoint, self.ringback.clone());
            }
            MediaCommand::StopMusic { endpoint } => self.engine.stop_playing(endpoint),
            MediaCommand::Close { endpoint } => self.engine.close(endpoint),
            MediaCommand::Denoise { endpoint, enabled } => {
                self.engine.set_denoise(endpoint, enabled)
            }
            MediaCommand::DetectDigits { endpoint, enabled } => {
                self.engine.detect_digits(endpoint, enabled)
            }
            MediaCommand::StartRecording {
                recording,
                customer,
                agent_side,
                dir,
            } => self
                .engine
                .start_recording(recording, customer, &agent_side, dir),
            MediaCommand::PauseRecording {
                recording,
                behavior,
                who,
                why,
            } => self.engine.pause_recording(&recording, behavior, who, why),
            MediaCommand::ResumeRecording { recording, auto } => {
                self.engine.resume_recording(&recording, auto)
            }
            MediaCommand::StopRecording { recording } => self.engine.stop_recording(&recording),
            MediaCommand::RecordAgentSide {
                recording,
                endpoint,
            } => self.engine.record_agent_side(&recording, endpoint),
            MediaCommand::RecordingHold { recording, held } => {
                self.engine.recording_hold(&recording, held)
            }
            MediaCommand::RecordingParticipant { recording, who } => {
                self.engine.recording_participant(&recording, who)
            }
            MediaCommand::Mix { endpoints } => self.engine.mix(&endpoints),
        }
    }

    /// Carries out everything the node asks, until it has nothing left.
    async fn drain(&mut self) {
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Transmit {
                    to,
                    transport,
                    bytes,
                } => {
                    // The core only answers on transports it was reached by.
                    if let Some(kind) = TransportKind::for_protocol(transport) {
                        self.transports.send(to, kind, bytes).await;
                    }
                }
                Output::Media(command) => self.apply_media(command),
                Output::PersistBinding(change) => {
                    if self.store_tx.send(StoreJob::Binding(change)).await.is_err() {
                        tracing::error!("store writer gone: binding not persisted");
                    }
                }
                Output::PersistCdrInProgress(cdr) => {
                    // Never waits: when the writer is behind, the call goes on and only a
                    // crash before its end would miss this write (the final one waits).
                    if let Err(error) = self.store_tx.try_send(StoreJob::CdrInProgress(cdr)) {
                        tracing::debug!(%error, "in-progress CDR skipped: store writer busy");
                    }
                }
                Output::PersistCdr { token, cdr } => {
                    if self
                        .store_tx
                        .send(StoreJob::Cdr { token, cdr })
                        .await
                        .is_err()
                    {
                        tracing::error!("store writer gone: CDR not persisted");
                    }
                }
                Output::Persist(job) => {
                    if self
                        .store_tx
                        .send(StoreJob::ContactCenter(job))
                        .await
                        .is_err()
                    {
                        tracing::error!("store writer gone: contact-center record lost");
                    }
                }
                Output::Publish(event) => {
                    self.bus.send(event);
                }
            }
        }
        // One wake-up per shard per round, for all the media commands the round queued.
        self.engine.wake_shards();
    }
}

/// Most inbound messages the core handles before it drains its outputs.
const INBOUND_BATCH: usize = 64;
