//! `[[trunks]]`: where queue calls may come from without authenticating (see
//! `call::trunks`).

use serde::Deserialize;

use super::{ConfigError, Profile};
use crate::call::trunks::{InboundTrunk, IpPrefix};

/// A trunk calls come in from: `[[trunks]]` (see `call::trunks`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSettings {
    /// A name for logs and the API.
    pub name: String,
    /// Addresses or prefixes its INVITEs come from (`192.0.2.10`, `198.51.100.0/24`),
    /// parsed as the profile is read: a bad one is a syntax error quoting it.
    pub inbound_sources: Vec<IpPrefix>,
    /// Believe its caller number, `X-Cad-*` and `Priority` (false: stripped).
    #[serde(default)]
    pub trusted: bool,
}

impl Profile {
    /// The profile's trunks, as the switch checks calls against them.
    #[must_use]
    pub fn inbound_trunks(&self) -> Vec<InboundTrunk> {
        self.trunks
            .iter()
            .map(|t| InboundTrunk {
                name: t.name.clone(),
                sources: t.inbound_sources.clone(),
                trusted: t.trusted,
            })
            .collect()
    }

    pub(super) fn validate_trunks(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for trunk in &self.trunks {
            if trunk.name.trim().is_empty() || !names.insert(trunk.name.as_str()) {
                return Err(self.invalid(
                    "trunks.name",
                    format!("`{}` is empty or listed twice", trunk.name),
                ));
            }
            if trunk.inbound_sources.is_empty() {
                return Err(self.invalid(
                    "trunks.inbound_sources",
                    format!("trunk `{}` lists no source", trunk.name),
                ));
            }
        }
        Ok(())
    }
}
