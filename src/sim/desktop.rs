//! Scripted desktops: what an agent's desktop asks of the contact center (log in, go
//! Available, accept, hold, consult, transfer, conference, end, wrap up, pause the
//! recording), sent to the node's contact center exactly as the CTI's requests are, with
//! the refusals kept for the flow to check.

use crate::center::{
    ConsultAction, ConsultTarget, RecordingAction, Refused, Request, TransferTarget,
};
use crate::media::recorder::PauseBehavior;
use crate::routing::model::{Actor, AgentId, AgentState, InteractionId};
use crate::routing::{Command, RequestedState, RoutingError};

use super::world::World;

/// A desktop button, on the interaction the agent is engaged on.
#[derive(Debug, Clone)]
pub enum Ask {
    End,
    Hold,
    Resume,
    Transfer(TransferTarget),
    Consult(ConsultTarget),
    ConsultEnd,
    ConsultTransfer,
    Conference,
    Leave,
    PauseRecording,
    ResumeRecording,
}

impl World {
    fn desktop(&mut self, command: Command) -> Result<(), RoutingError> {
        let now = self.now;
        let result = self.node.center_at(now).handle_command(now, command);
        self.pump();
        result
    }

    /// `agent` is configured, logs in at `extension` and goes Available.
    pub fn log_in(&mut self, agent: &str, extension: &str) {
        let config = crate::routing::test_harness::agent(agent, &[]);
        let actor = Actor::Agent(agent.into());
        let commands = [
            Command::UpsertAgent(config),
            Command::Login {
                agent: agent.into(),
                extension: extension.into(),
                actor: actor.clone(),
            },
        ];
        for command in commands {
            if let Err(error) = self.desktop(command) {
                self.fail(&format!("{agent} could not log in: {error}"));
            }
        }
        self.go_available(agent);
    }

    /// `agent` asks to be Available (from Idle, RONA or wrap-up).
    pub fn go_available(&mut self, agent: &str) {
        let command = Command::SetState {
            agent: agent.into(),
            state: RequestedState::Available,
            actor: Actor::Agent(agent.into()),
        };
        if let Err(error) = self.desktop(command) {
            self.fail(&format!("{agent} could not go available: {error}"));
        }
    }

    /// `agent` finishes wrap-up with a disposition.
    pub fn wrap_up(&mut self, agent: &str) {
        let command = Command::FinishWrapUp {
            agent: agent.into(),
            disposition: Some("sale".into()),
            actor: Actor::Agent(agent.into()),
        };
        if let Err(error) = self.desktop(command) {
            self.fail(&format!("{agent} could not wrap up: {error}"));
        }
    }

    /// `agent` accepts the offer ringing it (informational: the phone's answer connects).
    pub fn accept(&mut self, agent: &str) -> Result<(), RoutingError> {
        let Some(AgentState::Reserved { interaction }) = self.agent_state(agent) else {
            self.fail(&format!("{agent} has no offer to accept"));
        };
        self.desktop(Command::AcceptOffer {
            agent: agent.into(),
            interaction,
        })
    }

    pub fn agent_state(&self, agent: &str) -> Option<AgentState> {
        self.node
            .center()
            .agent_state(&AgentId(agent.into()))
            .map(|(state, _)| state)
    }

    /// The state's name, `"none"` for an unknown agent.
    pub fn agent_state_name(&self, agent: &str) -> &'static str {
        self.agent_state(agent).map_or("none", |s| s.name())
    }

    /// The interaction `agent` is engaged on.
    pub fn engaged_on(&self, agent: &str) -> Option<InteractionId> {
        match self.agent_state(agent) {
            Some(AgentState::Engaged { interaction }) => Some(interaction),
            _ => None,
        }
    }

    /// `agent` presses `ask` on the interaction it is engaged on.
    pub fn ask(&mut self, agent: &str, ask: Ask) -> Result<(), Refused> {
        let Some(interaction) = self.engaged_on(agent) else {
            self.fail(&format!(
                "{agent} is not engaged ({:?}) for {ask:?}",
                self.agent_state(agent)
            ));
        };
        let agent_id = Some(AgentId(agent.into()));
        let consult = |action| Request::Consult {
            interaction: interaction.clone(),
            agent: agent_id.clone(),
            action,
        };
        let recording = |action| Request::Recording {
            interaction: interaction.clone(),
            agent: agent_id.clone(),
            action,
        };
        let request = match ask.clone() {
            Ask::End => Request::End {
                interaction: interaction.clone(),
                agent: agent_id.clone(),
            },
            Ask::Hold | Ask::Resume => Request::Hold {
                interaction: interaction.clone(),
                agent: agent_id.clone(),
                held: matches!(ask, Ask::Hold),
            },
            Ask::Transfer(target) => Request::Transfer {
                interaction: interaction.clone(),
                agent: agent_id.clone(),
                target,
            },
            Ask::Consult(target) => consult(ConsultAction::Start(target)),
            Ask::ConsultEnd => consult(ConsultAction::End),
            Ask::ConsultTransfer => consult(ConsultAction::Transfer),
            Ask::Conference => consult(ConsultAction::Conference),
            Ask::Leave => consult(ConsultAction::Leave),
            Ask::PauseRecording => recording(RecordingAction::Pause {
                behavior: PauseBehavior::Silence,
                who: agent.into(),
                why: Some("card number".into()),
            }),
            Ask::ResumeRecording => recording(RecordingAction::Resume { who: agent.into() }),
        };
        let now = self.now;
        let result = self.node.center_at(now).handle_request(now, request);
        self.pump();
        result
    }

    /// `agent` presses `ask`, which must be accepted.
    pub fn press(&mut self, agent: &str, ask: Ask) {
        if let Err(refused) = self.ask(agent, ask.clone()) {
            self.fail(&format!("{agent}'s {ask:?} refused: {refused}"));
        }
    }
}
