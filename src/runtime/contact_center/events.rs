//! What desktops see of the ACD's events: typed JSON on the event bus, addressed to the agent
//! concerned (and its supervisors), with the offer pop-up's CAD.

use super::*;

impl ContactCenter {
    /// The offer pop-up's CAD: the admin-chosen keys, in the admin's order, never secure ones.
    pub(super) fn offered_cad(&self, interaction: &InteractionId) -> Value {
        let Some(cad) = self.cad.get(interaction) else {
            return json!({});
        };
        let mut shown = serde_json::Map::new();
        for key in self.offered_cad_keys.iter().take(6) {
            if let Some(c) = cad.iter().find(|c| &c.key == key && !c.secure) {
                shown.insert(c.key.clone(), Value::String(c.value.clone()));
            }
        }
        Value::Object(shown)
    }

    pub(super) fn publish(&mut self, event: Event) {
        let at = clock::unix_ms();
        let (kind, audience, data) = match event {
            Event::AgentStateChanged(t) => {
                let audience = self.about(&t.agent);
                let data = json!({
                    "agent": t.agent, "from": t.from, "to": t.to,
                    "actor": t.actor, "reason": t.reason.as_str(),
                });
                ("agent.state_changed", audience, data)
            }
            Event::InteractionOffered {
                interaction,
                agent,
                queue,
                ani,
                dnis,
            } => {
                let cad = self.offered_cad(&interaction);
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "ani": ani, "dnis": dnis, "cad": cad,
                });
                ("interaction.offered", self.about(&agent), data)
            }
            Event::InteractionConnected {
                interaction,
                agent,
                queue,
            } => {
                let data = json!({"interaction": interaction, "agent": agent, "queue": queue});
                ("interaction.connected", self.about(&agent), data)
            }
            Event::InteractionEnded {
                interaction,
                agent,
                queue,
                abandoned,
            } => {
                let audience = match &agent {
                    Some(agent) => self.about(agent),
                    None => Audience::Supervisors,
                };
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "abandoned": abandoned,
                });
                ("interaction.ended", audience, data)
            }
            Event::WrapUpRequired {
                interaction,
                agent,
                queue,
                disposition_required,
            } => {
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "disposition_required": disposition_required,
                });
                ("interaction.wrapup_required", self.about(&agent), data)
            }
            Event::AgentRona { agent, interaction } => {
                let data = json!({"agent": agent, "interaction": interaction});
                ("agent.rona", self.about(&agent), data)
            }
            Event::QueueStats {
                queue,
                waiting,
                longest_wait,
                available_agents,
            } => {
                let data = json!({
                    "queue": queue, "waiting": waiting,
                    "longest_wait_secs": longest_wait.as_secs(),
                    "available_agents": available_agents,
                });
                ("queue.stats", Audience::Everyone, data)
            }
        };
        self.bus.publish(kind, at, audience, data);
    }
}
