//! What must hold once a flow is over and every timer has run (64·T1 and more): nothing
//! is left in the switch, the contact center or the media plane, no phone still thinks it
//! is in a call, every interaction reached a terminal state, and each call has exactly one
//! final CDR with the cause the flow expects.

use std::time::Duration;

use super::phone::Stage;
use super::world::World;
use crate::routing::model::InteractionState;
use crate::store::HangupCause;

/// What a flow expects at its end.
pub struct Expect<'a> {
    /// The causes of the final CDRs, in any order.
    pub cdrs: &'a [HangupCause],
    /// Agents and the state they end in (by its API name).
    pub agents: &'a [(&'a str, &'a str)],
}

impl World {
    /// Lets every timer run out (64·T1 is 32 s; the ACD's wrap-up maximum is shorter than
    /// the wait), then checks the invariants.
    pub fn finish(&mut self, expect: Expect<'_>) {
        // States are taken before the wait: wrap-up would end by its timer meanwhile.
        for (agent, state) in expect.agents {
            let actual = self.agent_state_name(agent);
            self.check(actual == *state, || {
                format!("{agent} ends {actual}, not {state}")
            });
        }
        self.run_for(Duration::from_secs(40));
        let switch = self.node.switch().holdings();
        self.check(switch.is_empty(), || {
            format!("the switch still holds {switch:?}")
        });
        let center = self.node.center().holdings();
        self.check(center.is_empty(), || {
            format!("the contact center still holds {center:?}")
        });
        self.check(self.media.open.is_empty(), || {
            format!("endpoints left open: {:?}", self.media.open)
        });
        self.check(self.media.recordings.is_empty(), || {
            format!("recordings left running: {:?}", self.media.recordings)
        });
        for phone in &self.phones {
            for call in &phone.calls {
                self.check(call.stage != Stage::Up, || {
                    format!("{}'s call {} is still up", phone.user, call.call_id)
                });
            }
        }
        for (id, states) in &self.store.interactions {
            let last = states.last().copied();
            let over = matches!(
                last,
                Some(InteractionState::Ended | InteractionState::WrappedUp)
            );
            self.check(over, || format!("interaction {id} left in {states:?}"));
        }
        let mut causes: Vec<String> = self
            .store
            .cdrs
            .iter()
            .map(|c| format!("{:?}", c.hangup_cause))
            .collect();
        let mut expected: Vec<String> = expect.cdrs.iter().map(|c| format!("{c:?}")).collect();
        causes.sort();
        expected.sort();
        self.check(causes == expected, || {
            format!(
                "CDR causes {causes:?}, expected {expected:?}: {:#?}",
                self.store.cdrs
            )
        });
    }
}
