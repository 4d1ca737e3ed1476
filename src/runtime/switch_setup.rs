//! What the switch core is configured with at start-up and after the API changes it: the
//! extensions and their digest algorithms, the profile's limits, and the trunks, routes and
//! DIDs (profile and database merged, gateway names resolved outside the core).

use super::*;

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

/// How long one gateway name may take to resolve: the API waits for the switch to use a
/// change, and a resolver that does not answer must not hold it.
pub(super) const GATEWAY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The trunks, routes and DIDs of `profile` (the profile's merged with the database's), each
/// gateway's name looked up once, now (A/AAAA through the system resolver): a name that does
/// not resolve is left out with a warning, so a carrier's DNS trouble costs its calls, not
/// the switch.
pub(super) async fn resolve_trunks(profile: &Profile) -> TrunkSet {
    let mut resolved = HashMap::new();
    for trunk in &profile.trunks {
        for gateway in &trunk.gateways {
            let target = (gateway.host.as_str(), gateway.port);
            let lookup =
                tokio::time::timeout(GATEWAY_LOOKUP_TIMEOUT, tokio::net::lookup_host(target));
            let addrs: Vec<SocketAddr> = match lookup.await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(error)) => {
                    tracing::warn!(trunk = %trunk.name, %gateway, %error, "gateway does not resolve; left out");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!(trunk = %trunk.name, %gateway, "gateway lookup timed out; left out");
                    Vec::new()
                }
            };
            resolved.insert(gateway.to_string(), addrs);
        }
    }
    profile.trunk_set(|g| resolved.get(&g.to_string()).cloned().unwrap_or_default())
}

/// The profile's trunks, routes and DIDs, then the database's.
pub(super) async fn merged_trunks(
    profile: &Profile,
    store: &Store,
) -> Result<Profile, crate::store::StoreError> {
    Ok(profile.with_stored(&store.stored_trunks().await?))
}

/// Applies changes the admin API made to trunks, DIDs and routes: each request (a reply to
/// send once done) loads them again, resolves the gateways and hands the switch the
/// complete set. One at a time, so an older set never lands after a newer one; requests
/// that queued up meanwhile are served by one load, since the store has all their changes.
pub(super) async fn reload_trunks(
    profile: Profile,
    store: Store,
    core: CoreHandle,
    mut requests: mpsc::Receiver<oneshot::Sender<()>>,
) {
    while let Some(first) = requests.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = requests.try_recv() {
            waiting.push(more);
        }
        let merged = match merged_trunks(&profile, &store).await {
            Ok(merged) => merged,
            Err(error) => {
                // The callers see the switch unavailable; it keeps the trunks it has.
                tracing::error!(%error, "loading stored trunks failed; the switch keeps its trunks");
                continue;
            }
        };
        let trunks = resolve_trunks(&merged).await;
        tracing::info!(
            trunks = merged.trunks.len(),
            routes = merged.dialing.routes.len(),
            dids = merged.dialing.dids.len(),
            "trunks, routes and DIDs applied"
        );
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
