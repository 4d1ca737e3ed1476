//! The API's side of the core: requests with a reply each, over a bounded channel. Plain
//! plumbing: every decision is the contact-center core's ([`ContactCenter::handle_request`]
//! and its queries); this only carries the question there and the answer back.

use std::net::IpAddr;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::node::Node;
use crate::sip::auth_guard::AuthBlock;
use crate::sip::digest::StoredSecret;

use crate::call::trunks::TrunkSet;
use crate::call::{Switch, TrunkOverview};
use crate::center::{
    ConsultAction, ContactCenter, OutdialRefused, RecordingAction, Refused, Request, TransferTarget,
};
use crate::routing::model::{Actor, AgentId, AgentState, InteractionId};
use crate::routing::{Command, QueuePosition, RoutingError, Snapshot};
use crate::store::OrgSettings;

pub use super::outbound::{CallbackAsk, CallbackRefused, OutdialRequest};

/// Requests waiting for the core; beyond this, API calls get 503 instead of piling up.
pub const REQUEST_QUEUE: usize = 1024;

/// What the CTI API asks the core, with where the answer goes.
#[derive(Debug)]
pub enum CoreRequest {
    /// A routing command (login, state change, accept, decline, wrap-up, configuration).
    Acd {
        command: Command,
        reply: oneshot::Sender<Result<(), RoutingError>>,
    },
    /// An agent's live state and the extension it is logged in with.
    AgentState {
        agent: AgentId,
        reply: oneshot::Sender<Option<(AgentState, Option<String>)>>,
    },
    /// Every agent and queue as the ACD sees them now (the desktop's directory).
    Snapshot { reply: oneshot::Sender<Snapshot> },
    /// Where a waiting caller stands.
    Position {
        interaction: InteractionId,
        reply: oneshot::Sender<Option<QueuePosition>>,
    },
    /// An agent's call out (click-to-dial): planned by the switch, started by the contact
    /// center; answered with the new interaction's id.
    Outdial {
        request: OutdialRequest,
        reply: oneshot::Sender<Result<InteractionId, OutdialRefused>>,
    },
    /// A customer's callback request (web form): the number checked by the switch, the
    /// callback filed by the contact center; answered with its id and queue position.
    Callback {
        request: CallbackAsk,
        reply: oneshot::Sender<Result<(InteractionId, Option<QueuePosition>), CallbackRefused>>,
    },
    /// Cancels a callback that has not connected (`by`: `customer` or a supervisor's id).
    CancelCallback {
        interaction: InteractionId,
        by: String,
        reply: oneshot::Sender<Result<(), RoutingError>>,
    },
    /// A command on a live interaction (end, hold, transfer, consult, recording, denoise).
    Live {
        request: Request,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    /// The org settings changed (offer pop-up keys, recording, noise suppression).
    Settings(Box<OrgSettings>),
    /// A question for the SIP switch rather than the contact center.
    Switch(SwitchRequest),
    /// Trunks, DIDs or routes changed in the store. For the runtime, not a core: loading
    /// them and resolving gateway names is IO, so it does that and hands the switch the
    /// result as [`SwitchRequest::SetTrunks`], answering `reply` once the switch uses it.
    ReloadTrunks { reply: oneshot::Sender<()> },
}

/// What the admin API asks the switch core.
#[derive(Debug)]
pub enum SwitchRequest {
    /// How much state the switch holds (`GET /api/v1/status`).
    Holdings {
        reply: oneshot::Sender<crate::call::Holdings>,
    },
    /// Digest-guessing blocks in force.
    AuthBlocks {
        reply: oneshot::Sender<Vec<AuthBlock>>,
    },
    /// Lifts an address's digest ban or backoff (`false`: it had none).
    LiftAuthBlock {
        address: IpAddr,
        reply: oneshot::Sender<bool>,
    },
    /// The trunks and their registrations.
    Trunks {
        reply: oneshot::Sender<Vec<TrunkOverview>>,
    },
    /// Every trunk, outbound route and DID, replacing the switch's (answered once applied).
    SetTrunks {
        trunks: Box<TrunkSet>,
        reply: oneshot::Sender<()>,
    },
    /// An extension was created or changed (`Some`: its secret and calling class) or
    /// deleted (`None`) in the store.
    SetExtension {
        user: String,
        secret: Option<(StoredSecret, Option<crate::dialing::CallingClass>)>,
    },
}

impl CoreRequest {
    /// Asks the switch or the contact center, whichever the request is for.
    pub fn dispatch(self, node: &mut Node, now: Instant) {
        match self {
            CoreRequest::Switch(request) => request.answer(node.switch_mut(), now),
            CoreRequest::Outdial { request, reply } => {
                let _ = reply.send(request.start(node, now));
            }
            CoreRequest::Callback { request, reply } => {
                let _ = reply.send(request.file(node, now));
            }
            other => other.answer(node.center_at(now), now),
        }
    }

    /// Asks the contact center and sends its answer back (a caller that gave up is no
    /// error). A request for the switch is dropped, so its caller sees [`CoreUnavailable`].
    pub fn answer(self, core: &mut ContactCenter, now: Instant) {
        match self {
            CoreRequest::Acd { command, reply } => {
                let _ = reply.send(core.handle_command(now, command));
            }
            CoreRequest::AgentState { agent, reply } => {
                let _ = reply.send(core.agent_state(&agent));
            }
            CoreRequest::Snapshot { reply } => {
                let _ = reply.send(core.snapshot(now));
            }
            CoreRequest::Position { interaction, reply } => {
                let _ = reply.send(core.queue_position(&interaction));
            }
            CoreRequest::Live { request, reply } => {
                let _ = reply.send(core.handle_request(now, request));
            }
            CoreRequest::CancelCallback {
                interaction,
                by,
                reply,
            } => {
                let _ = reply.send(core.cancel_callback(now, &interaction, &by));
            }
            CoreRequest::Settings(settings) => core.handle_settings(now, *settings),
            CoreRequest::Switch(_)
            | CoreRequest::Outdial { .. }
            | CoreRequest::Callback { .. }
            | CoreRequest::ReloadTrunks { .. } => {}
        }
    }
}

impl SwitchRequest {
    /// Asks `switch` and sends its answer back.
    pub fn answer(self, switch: &mut Switch, now: Instant) {
        match self {
            SwitchRequest::AuthBlocks { reply } => {
                let _ = reply.send(switch.auth_blocks(now));
            }
            SwitchRequest::Holdings { reply } => {
                let _ = reply.send(switch.holdings());
            }
            SwitchRequest::LiftAuthBlock { address, reply } => {
                let _ = reply.send(switch.lift_auth_block(now, address));
            }
            SwitchRequest::Trunks { reply } => {
                let _ = reply.send(switch.trunks(now));
            }
            SwitchRequest::SetTrunks { trunks, reply } => {
                switch.set_trunks(now, *trunks);
                let _ = reply.send(());
            }
            SwitchRequest::SetExtension { user, secret } => {
                let class = secret.as_ref().and_then(|(_, class)| *class);
                switch.set_extension(&user, secret.map(|(secret, _)| secret));
                switch.set_calling_class(&user, class);
            }
        }
    }
}

/// The API's handle on the core. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreHandle {
    tx: mpsc::Sender<CoreRequest>,
}

/// The core is not running (shutting down) or is too busy to take the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the switch core is unavailable")]
pub struct CoreUnavailable;

impl CoreHandle {
    /// A handle and the receiving end the core loop reads.
    #[must_use]
    pub fn channel() -> (CoreHandle, mpsc::Receiver<CoreRequest>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        (CoreHandle { tx }, rx)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CoreRequest,
    ) -> Result<T, CoreUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|_| CoreUnavailable)?;
        answer.await.map_err(|_| CoreUnavailable)
    }

    /// Runs a routing command.
    pub async fn acd(&self, command: Command) -> Result<Result<(), RoutingError>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Acd { command, reply }).await
    }

    /// An agent's live state and extension (`None`: unknown to the ACD).
    pub async fn agent_state(
        &self,
        agent: AgentId,
    ) -> Result<Option<(AgentState, Option<String>)>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::AgentState { agent, reply })
            .await
    }

    /// Every agent and queue with their live state.
    pub async fn snapshot(&self) -> Result<Snapshot, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Snapshot { reply }).await
    }

    /// A waiting caller's position and expected wait.
    pub async fn position(
        &self,
        interaction: InteractionId,
    ) -> Result<Option<QueuePosition>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Position { interaction, reply })
            .await
    }

    /// Starts an agent's call out; the new interaction's id, or why nothing was dialled.
    pub async fn outdial(
        &self,
        request: OutdialRequest,
    ) -> Result<Result<InteractionId, OutdialRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Outdial { request, reply })
            .await
    }

    /// Files a customer's callback; its id and queue position, or why it was refused.
    pub async fn callback(
        &self,
        request: CallbackAsk,
    ) -> Result<Result<(InteractionId, Option<QueuePosition>), CallbackRefused>, CoreUnavailable>
    {
        self.ask(|reply| CoreRequest::Callback { request, reply })
            .await
    }

    /// Cancels a callback that has not connected.
    pub async fn cancel_callback(
        &self,
        interaction: InteractionId,
        by: String,
    ) -> Result<Result<(), RoutingError>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::CancelCallback {
            interaction,
            by,
            reply,
        })
        .await
    }

    /// A command on a live interaction.
    pub async fn live(&self, request: Request) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Live { request, reply }).await
    }

    /// Hangs up a connected interaction.
    pub async fn end(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::End { interaction, agent }).await
    }

    /// Blindly transfers a connected interaction.
    pub async fn transfer(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::Transfer {
            interaction,
            agent,
            target,
        })
        .await
    }

    /// A consult step.
    pub async fn consult(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: ConsultAction,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::Consult {
            interaction,
            agent,
            action,
        })
        .await
    }

    /// Holds (`held`) or resumes a connected interaction.
    pub async fn hold(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::Hold {
            interaction,
            agent,
            held,
        })
        .await
    }

    /// Pauses or resumes a recording.
    pub async fn recording(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::Recording {
            interaction,
            agent,
            action,
        })
        .await
    }

    /// Turns noise suppression of one live interaction on or off.
    pub async fn denoise(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        enabled: bool,
        by: Actor,
    ) -> Result<Result<(), Refused>, CoreUnavailable> {
        self.live(Request::Denoise {
            interaction,
            agent,
            enabled,
            by,
        })
        .await
    }

    /// How much state the switch holds.
    pub async fn holdings(&self) -> Result<crate::call::Holdings, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Switch(SwitchRequest::Holdings { reply }))
            .await
    }

    /// Digest-guessing blocks in force on the switch.
    pub async fn auth_blocks(&self) -> Result<Vec<AuthBlock>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Switch(SwitchRequest::AuthBlocks { reply }))
            .await
    }

    /// Lifts an address's digest ban or backoff; `false` if it had none.
    pub async fn lift_auth_block(&self, address: IpAddr) -> Result<bool, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Switch(SwitchRequest::LiftAuthBlock { address, reply }))
            .await
    }

    /// The switch's trunks and their registrations.
    pub async fn trunks(&self) -> Result<Vec<TrunkOverview>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Switch(SwitchRequest::Trunks { reply }))
            .await
    }

    /// Has the runtime load the stored trunks, DIDs and routes again and hand them to the
    /// switch; returns once the switch uses them.
    pub async fn reload_trunks(&self) -> Result<(), CoreUnavailable> {
        self.ask(|reply| CoreRequest::ReloadTrunks { reply }).await
    }

    /// Replaces the switch's trunks, routes and DIDs; returns once it uses them.
    pub async fn set_trunks(&self, trunks: TrunkSet) -> Result<(), CoreUnavailable> {
        let trunks = Box::new(trunks);
        self.ask(|reply| CoreRequest::Switch(SwitchRequest::SetTrunks { trunks, reply }))
            .await
    }

    /// Tells the switch an extension's secret changed (`None`: deleted).
    pub fn extension_changed(
        &self,
        user: String,
        secret: Option<(StoredSecret, Option<crate::dialing::CallingClass>)>,
    ) -> Result<(), CoreUnavailable> {
        self.tx
            .try_send(CoreRequest::Switch(SwitchRequest::SetExtension {
                user,
                secret,
            }))
            .map_err(|_| CoreUnavailable)
    }

    /// Tells the core the org settings changed (fire and forget).
    pub fn settings_changed(&self, settings: OrgSettings) {
        let _ = self.tx.try_send(CoreRequest::Settings(Box::new(settings)));
    }
}
