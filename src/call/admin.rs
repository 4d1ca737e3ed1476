//! What the admin API asks of the switch core: the digest guard's blocks (list and lift) and
//! extensions created, changed or deleted while the switch runs. Plain queries and updates,
//! sans-IO like the rest of the core: the runtime passes `now`.

use super::switch::Switch;
use crate::sip::auth_guard::AuthBlock;
use crate::sip::digest::StoredSecret;
use std::net::IpAddr;
use std::time::Instant;

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
}
