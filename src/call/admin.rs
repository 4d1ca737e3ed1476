//! What the admin API asks of the switch core: the digest guard's blocks (list and lift),
//! extensions created, changed or deleted while the switch runs, and the trunks with their
//! registrations. Plain queries and updates, sans-IO like the rest of the core: the runtime
//! passes `now`.

use super::switch::Switch;
use super::trunk_registration::TrunkRegistrationStatus;
use super::trunks::IpPrefix;
use crate::sip::auth_guard::AuthBlock;
use crate::sip::digest::StoredSecret;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A trunk as the switch uses it: where its calls come from, where calls through it go,
/// and its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkOverview {
    pub name: String,
    /// Its gateways, resolved (empty: it only sends calls in).
    pub gateways: Vec<SocketAddr>,
    /// Where calls from it come from (a registering trunk's gateways included).
    pub inbound_sources: Vec<IpPrefix>,
    /// Whether its caller number, CAD and priority are believed.
    pub trusted: bool,
    /// Calls through it at once, both ways (0: no limit).
    pub max_channels: u32,
    /// Its registration with the carrier, when it registers.
    pub registration: Option<TrunkRegistrationStatus>,
}

impl Switch {
    /// Digest-guessing bans, backoffs and user slowdowns in force.
    #[must_use]
    pub fn auth_blocks(&self, now: Instant) -> Vec<AuthBlock> {
        self.auth_guard.blocks(now)
    }

    /// Lifts `source`'s ban or backoff; `false` if it had none.
    pub fn lift_auth_block(&mut self, now: Instant, source: IpAddr) -> bool {
        self.auth_guard.lift(source, now)
    }

    /// An extension's own calling class, as the database keeps it (`None`: the profile's
    /// `dialing.default_class`).
    pub fn set_calling_class(&mut self, user: &str, class: Option<crate::dialing::CallingClass>) {
        match class {
            Some(class) => {
                self.cfg.dialing.classes.insert(user.to_owned(), class);
            }
            None => {
                self.cfg.dialing.classes.remove(user);
            }
        }
    }

    /// Adds or replaces an extension's digest secret (`None`: removes the extension, which
    /// may then neither register nor call; its bindings expire by themselves). A stored
    /// secret without an MD5 hash can only answer SHA-256 challenges, so it is offered those
    /// alone.
    pub fn set_extension(&mut self, user: &str, secret: Option<StoredSecret>) {
        let sha256_only = matches!(secret, Some(StoredSecret::Ha1 { md5: None, .. }));
        if sha256_only {
            self.cfg
                .extension_digest_algorithms
                .insert(user.to_owned(), vec!["SHA-256".to_owned()]);
        }
        match secret {
            Some(secret) => self.cfg.extensions.insert(user.to_owned(), secret),
            None => self.cfg.extensions.remove(user),
        };
    }

    /// Every trunk, those with gateways first in profile order, then those that only send
    /// calls in; registrations as they stand at `now`.
    #[must_use]
    pub fn trunks(&self, now: Instant) -> Vec<TrunkOverview> {
        let mut registrations = self.trunk_registrations(now);
        let inbound = |name: &str| self.cfg.trunks.iter().find(|t| t.name == name);
        let mut all: Vec<TrunkOverview> = self
            .cfg
            .outbound_trunks
            .iter()
            .map(|t| TrunkOverview {
                name: t.name.clone(),
                gateways: t.gateways.clone(),
                inbound_sources: inbound(&t.name)
                    .map(|i| i.sources.clone())
                    .unwrap_or_default(),
                trusted: inbound(&t.name).is_some_and(|i| i.trusted),
                max_channels: t.max_channels,
                registration: registrations
                    .iter()
                    .position(|r| r.trunk == t.name)
                    .map(|i| registrations.swap_remove(i)),
            })
            .collect();
        for trunk in &self.cfg.trunks {
            if !all.iter().any(|t| t.name == trunk.name) {
                all.push(TrunkOverview {
                    name: trunk.name.clone(),
                    gateways: Vec::new(),
                    inbound_sources: trunk.sources.clone(),
                    trusted: trunk.trusted,
                    max_channels: trunk.max_channels,
                    registration: None,
                });
            }
        }
        all
    }
}
