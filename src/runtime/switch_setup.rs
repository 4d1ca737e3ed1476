//! What the switch core is configured with at start-up and after the API changes it: the
//! extensions and their digest algorithms, the profile's limits, and the trunks, routes and
//! DIDs (profile and database merged, gateways located outside the core by RFC 3263 and
//! located again as their DNS records expire).

use super::dns_client::DnsClient;
use super::transport::{TlsGateway, TlsGateways};
use super::*;
use crate::config::{GatewayAddress, GatewayTransport};
use crate::dns::{Located, Via};
use std::time::Instant;
use tokio_rustls::rustls::pki_types::ServerName;

/// The profile's extensions, then the database's enabled ones (which win on a clash, so an
/// operator can change a lab password without editing the profile).
pub(super) async fn extensions(
    profile: &Profile,
    store: &Store,
) -> anyhow::Result<HashMap<String, StoredSecret>> {
    let mut all: HashMap<String, StoredSecret> = profile
        .extensions
        .iter()
        .map(|e| (e.user.clone(), StoredSecret::Password(e.password.clone())))
        .collect();
    let realm = &profile.sip.domain;
    let hashed = store
        .hash_plaintext_extensions(realm)
        .await
        .context("hashing stored extension passwords")?;
    if hashed > 0 {
        tracing::info!(
            target: "security",
            event = "extension_passwords_hashed",
            hashed,
            "stored extension passwords replaced with their digest hashes"
        );
    }
    for e in store
        .list_extensions()
        .await
        .context("loading extensions")?
    {
        if !e.enabled {
            all.remove(&e.user);
            continue;
        }
        if let Some(other) = e.ha1_realm.as_ref().filter(|r| *r != realm) {
            // Its hashes cannot answer a challenge for our realm: set a new password.
            tracing::warn!(user = %e.user, realm = %other, "extension hashed for another realm; skipped");
            all.remove(&e.user);
            continue;
        }
        let secret = match e.password {
            Some(password) => StoredSecret::Password(password),
            None => StoredSecret::Ha1 {
                md5: e.ha1_md5,
                sha256: e.ha1_sha256,
            },
        };
        all.insert(e.user, secret);
    }
    Ok(all)
}

/// Per-extension digest algorithms: the profile's, and SHA-256 alone for a stored extension
/// that keeps no MD5 hash (it could never answer an MD5 challenge).
pub(super) fn extension_digest_algorithms(
    profile: &Profile,
    extensions: &HashMap<String, StoredSecret>,
) -> HashMap<String, Vec<String>> {
    let mut algorithms: HashMap<String, Vec<String>> = profile
        .extensions
        .iter()
        .filter_map(|e| Some((e.user.clone(), e.digest_algorithms.clone()?)))
        .collect();
    for (user, secret) in extensions {
        if let StoredSecret::Ha1 { md5: None, .. } = secret {
            algorithms.insert(user.clone(), vec!["SHA-256".to_owned()]);
        }
    }
    algorithms
}

pub(super) fn switch_config(
    profile: &Profile,
    advertised: SocketAddr,
    tls_port: Option<u16>,
    seed: RngSeed,
    extensions: HashMap<String, StoredSecret>,
    trunks: TrunkSet,
) -> SwitchConfig {
    let extension_digest_algorithms = extension_digest_algorithms(profile, &extensions);
    let mut dialing = profile.dialing();
    dialing.routes = trunks.routes;
    dialing.dids = trunks.dids;
    SwitchConfig {
        trunks: trunks.inbound,
        outbound_trunks: trunks.outbound,
        dialing,
        domain: profile.sip.domain.clone(),
        advertised,
        tls_port,
        timing: Timing {
            t1: profile.t1(),
            t2: profile.t2(),
            t4: profile.t4(),
        },
        ring_timeout: profile.ring_timeout(),
        max_calls: profile.sip.max_calls,
        registrar: RegistrarConfig {
            default_expires: Duration::from_secs(profile.registrar.default_expires_secs.into()),
            min_expires: Duration::from_secs(profile.registrar.min_expires_secs.into()),
            max_expires: Duration::from_secs(profile.registrar.max_expires_secs.into()),
            max_bindings_per_aor: 10,
        },
        nonce_lifetime: Duration::from_secs(profile.registrar.nonce_lifetime_secs),
        extensions,
        rtp_ports: (profile.media.rtp_port_min, profile.media.rtp_port_max),
        digest_algorithms: profile.sip.digest_algorithms.clone(),
        extension_digest_algorithms,
        seed,
        auth_guard: profile.sip.auth_guard.policy(),
        srtp: profile.media.srtp_policy(),
    }
}

/// How long locating one gateway may take in all (SRV, then A/AAAA, each query sent twice
/// 2 s apart, then the system resolver): the API waits for the switch to use a change, and a
/// nameserver that does not answer must not hold it longer.
pub(super) const GATEWAY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(12);

/// Located gateways are looked up again after their records' TTL, within these bounds: a
/// zone with a 5 s TTL must not keep the switch asking, nor a week-long one keep a carrier's
/// move unseen.
pub(super) const MIN_REFRESH: Duration = Duration::from_secs(30);
pub(super) const MAX_REFRESH: Duration = Duration::from_secs(3600);

/// Every trunk gateway's addresses (see `dns::locate`), each kept until its records expire.
pub(super) struct Gateways {
    client: DnsClient,
    /// Orders the SRV targets of one priority: the same each time within one process, so a
    /// refresh that finds the same records changes nothing (a registering trunk would
    /// otherwise move registrar), while switches started apart spread over the targets.
    seed: u64,
    /// By transport and gateway as written: one name may have other SRV records per
    /// transport.
    located: HashMap<(GatewayTransport, String), LocatedGateway>,
    /// Where the transports may open TLS connections, kept to the TLS trunks' gateways.
    tls: TlsGateways,
}

struct LocatedGateway {
    addrs: Vec<SocketAddr>,
    /// When to look again; `None` for an IP address.
    expires: Option<Instant>,
}

impl Gateways {
    pub(super) fn new(client: DnsClient, seed: u64, tls: TlsGateways) -> Gateways {
        Gateways {
            client,
            seed,
            located: HashMap::new(),
            tls,
        }
    }

    /// The trunks, routes and DIDs of `profile` (the profile's merged with the database's),
    /// each gateway located unless it was and its records have not expired: a gateway found
    /// nowhere is left out with a warning (and looked for again after [`MIN_REFRESH`] or at
    /// the next change), so a carrier's DNS trouble costs its calls, not the switch.
    pub(super) async fn trunk_set(&mut self, profile: &Profile) -> TrunkSet {
        let now = clock::now();
        let mut wanted: HashMap<(GatewayTransport, String), (&str, &GatewayAddress)> =
            HashMap::new();
        for trunk in &profile.trunks {
            for gateway in &trunk.gateways {
                wanted
                    .entry((trunk.transport, gateway.to_string()))
                    .or_insert((trunk.name.as_str(), gateway));
            }
        }
        self.located.retain(|key, _| wanted.contains_key(key));
        let mut lookups = tokio::task::JoinSet::new();
        let mut pending = Vec::new();
        for (key, (trunk, gateway)) in &wanted {
            // One found nowhere is looked for again at once when the trunks change: the
            // operator may just have fixed its name or its zone.
            let fresh = self
                .located
                .get(key)
                .is_some_and(|g| !g.addrs.is_empty() && g.expires.is_none_or(|at| at > now));
            if fresh {
                continue;
            }
            let (client, key, trunk, gateway) = (
                self.client.clone(),
                key.clone(),
                (*trunk).to_owned(),
                (*gateway).clone(),
            );
            let seed = self.gateway_seed(&key);
            pending.push((key.clone(), trunk.clone()));
            let transport = key.0.protocol();
            lookups.spawn(async move {
                let locating = client.locate(&gateway, transport, seed);
                let located = tokio::time::timeout(GATEWAY_LOOKUP_TIMEOUT, locating)
                    .await
                    .ok();
                (key, trunk, located)
            });
        }
        while let Some(joined) = lookups.join_next().await {
            if let Ok((key, trunk, located)) = joined {
                pending.retain(|(k, _)| *k != key);
                self.store(now, key, &trunk, located);
            }
        }
        // A lookup that died counts as a failed one: left out, looked for again later.
        for (key, trunk) in pending {
            self.store(now, key, &trunk, None);
        }
        self.tls.replace(self.tls_gateways(profile));
        profile.trunk_set(|transport, g| {
            self.located
                .get(&(transport, g.to_string()))
                .map(|l| l.addrs.clone())
                .unwrap_or_default()
        })
    }

    /// Every located address of a TLS trunk's gateways, with the name its certificate must
    /// show and the trunk's CAs. A trunk whose CAs cannot be read (the system bundle
    /// missing) gets none: its calls fail at once rather than go unverified.
    fn tls_gateways(&self, profile: &Profile) -> HashMap<SocketAddr, TlsGateway> {
        let mut gateways = HashMap::new();
        for trunk in &profile.trunks {
            if trunk.transport != GatewayTransport::Tls {
                continue;
            }
            let config = match crate::tls::client_config(profile.trunk_ca(trunk).as_deref()) {
                Ok(config) => config,
                Err(error) => {
                    tracing::error!(trunk = %trunk.name, %error, "tls trunk has no CAs to check its gateways; its calls fail");
                    continue;
                }
            };
            for gateway in &trunk.gateways {
                let Ok(name) = ServerName::try_from(gateway.host.clone()) else {
                    continue;
                };
                let key = (trunk.transport, gateway.to_string());
                for addr in self
                    .located
                    .get(&key)
                    .map(|l| l.addrs.as_slice())
                    .unwrap_or(&[])
                {
                    gateways.entry(*addr).or_insert_with(|| TlsGateway {
                        name: name.clone(),
                        config: config.clone(),
                    });
                }
            }
        }
        gateways
    }

    /// When the first located gateway's records expire.
    pub(super) fn next_refresh(&self) -> Option<Instant> {
        self.located.values().filter_map(|g| g.expires).min()
    }

    fn gateway_seed(&self, key: &(GatewayTransport, String)) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, key).hash(&mut hasher);
        hasher.finish()
    }

    fn store(
        &mut self,
        now: Instant,
        key: (GatewayTransport, String),
        trunk: &str,
        located: Option<Located>,
    ) {
        let literal = located.as_ref().is_some_and(|l| l.via == Via::Literal);
        let (addrs, expires) = match located {
            Some(l) if !l.addrs.is_empty() => {
                let expires = l
                    .ttl
                    .map(|ttl| now + ttl.clamp(MIN_REFRESH, MAX_REFRESH))
                    .or((l.via != Via::Literal).then_some(now + MAX_REFRESH));
                (l.addrs, expires)
            }
            _ => (Vec::new(), Some(now + MIN_REFRESH)),
        };
        let before = self.located.get(&key).map(|g| &g.addrs);
        if before != Some(&addrs) && !literal {
            if addrs.is_empty() {
                tracing::warn!(%trunk, gateway = %key.1, transport = key.0.as_str(), "gateway does not resolve; left out until it does");
            } else {
                let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                tracing::info!(%trunk, gateway = %key.1, transport = key.0.as_str(), addresses = %shown.join(" "), "gateway located");
            }
        }
        self.located.insert(key, LocatedGateway { addrs, expires });
    }
}

/// The profile's trunks, routes and DIDs, then the database's.
pub(super) async fn merged_trunks(
    profile: &Profile,
    store: &Store,
) -> Result<Profile, crate::store::StoreError> {
    Ok(profile.with_stored(&store.stored_trunks().await?))
}

/// Keeps the switch's trunks current. Each reload request (a reply to send once done), from
/// the admin API's changes, loads them again, locates new gateways and hands the switch the
/// complete set. When located gateways' records expire, they are located again and the
/// switch gets the set if an address changed. One at a time, so an older set never lands
/// after a newer one; requests that queued up meanwhile are served by one load, since the
/// store has all their changes.
pub(super) async fn keep_trunks(
    profile: Profile,
    store: Store,
    core: CoreHandle,
    mut requests: mpsc::Receiver<oneshot::Sender<()>>,
    (mut merged, mut gateways, mut applied): (Profile, Gateways, TrunkSet),
) {
    loop {
        let refresh = gateways.next_refresh();
        let expired = async {
            match refresh {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let waiting = tokio::select! {
            request = requests.recv() => {
                let Some(first) = request else { return };
                let mut waiting = vec![first];
                while let Ok(more) = requests.try_recv() {
                    waiting.push(more);
                }
                match merged_trunks(&profile, &store).await {
                    Ok(reloaded) => merged = reloaded,
                    Err(error) => {
                        // The callers see the switch unavailable; it keeps the trunks it has.
                        tracing::error!(%error, "loading stored trunks failed; the switch keeps its trunks");
                        continue;
                    }
                }
                tracing::info!(
                    trunks = merged.trunks.len(),
                    routes = merged.dialing.routes.len(),
                    dids = merged.dialing.dids.len(),
                    "trunks, routes and DIDs applied"
                );
                waiting
            }
            () = expired => Vec::new(),
        };
        let trunks = gateways.trunk_set(&merged).await;
        if waiting.is_empty() && trunks == applied {
            continue;
        }
        applied = trunks.clone();
        if core.set_trunks(trunks).await.is_ok() {
            for reply in waiting {
                let _ = reply.send(());
            }
        }
    }
}

/// The profile's per-source limits and latching rules.
pub(super) fn source_limits(profile: &Profile) -> SourceLimits {
    let a = &profile.admission;
    SourceLimits {
        calls_per_second: a.calls_per_second_per_source,
        unconfirmed_pairs: a.unconfirmed_port_pairs_per_source,
        ack_timeout: a.ack_timeout_ms.map(Duration::from_millis),
        sdp_latch_sources: profile.media.sdp_latch_sources.clone(),
    }
}
