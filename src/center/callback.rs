//! Callbacks in the contact center (issue 15 items 4 and 5): a customer's request to be
//! called back becomes an outbound interaction waiting in a queue; the ACD offers it, an
//! agent accepts it on the desktop and the switch dials (see `routing::callback`). This core
//! keeps the records and the events:
//! - `callback.created`, `callback.cancelled`, `callback.retrying`, `callback.failed` to
//!   supervisors (and the agent concerned, when one is);
//! - `interaction.offered` with `"callback": true` to the agent it is offered to;
//! - the `callbacks` row (attempts, status) beside the interaction's record.

use super::{ContactCenter, Job};
use crate::bus::events::Audience;
use crate::call::CadFromSip;
use crate::routing::model::{InteractionId, InteractionState, QueueId};
use crate::routing::{Command, Event, RoutingError};
use crate::store::{
    Callback, CallbackStatus, Direction, Interaction, InteractionProgress, UnixMillis,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// A callback to file (or to put back in its queue after a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    /// Its interaction id.
    pub interaction: InteractionId,
    /// Where it waits.
    pub queue: QueueId,
    /// The customer's number in E.164.
    pub number: String,
    /// What the customer reached.
    pub dnis: String,
    /// Not before then (wall clock).
    pub at: Option<UnixMillis>,
    /// Attempts already made.
    pub attempts: u32,
    /// The widget that filed it.
    pub widget: Option<String>,
    /// Call-associated data for the pop-up.
    pub cad: Vec<CadFromSip>,
    /// It is already stored (a restart put it back): nothing to write but its progress.
    pub restored: bool,
}

/// Writes about callbacks, for the store writer.
#[derive(Debug, Clone)]
pub enum CallbackJob {
    /// A new callback's row.
    Created(Box<Callback>),
    /// Attempts made and where it stands.
    Update {
        interaction: InteractionId,
        attempts: Option<u32>,
        status: CallbackStatus,
    },
}

impl ContactCenter {
    /// Files a callback in its queue.
    ///
    /// # Errors
    /// The ACD's refusal (an unknown queue).
    pub fn callback(&mut self, now: Instant, request: CallbackRequest) -> Result<(), RoutingError> {
        let now = self.advance(now);
        let CallbackRequest {
            interaction,
            queue,
            number,
            dnis,
            at,
            attempts,
            widget,
            cad,
            restored,
        } = request;
        let due = at.map(|at| self.instant_of(at));
        let dnis = if dnis.is_empty() {
            self.acd
                .queue(&queue)
                .map(|q| q.config().number.clone())
                .unwrap_or_default()
        } else {
            dnis
        };
        self.acd.handle_command(
            now,
            Command::Callback {
                interaction: interaction.clone(),
                queue: queue.clone(),
                number: number.clone(),
                dnis: dnis.clone(),
                at: due,
                attempts,
            },
        )?;
        self.callbacks.insert(interaction.clone());
        if !restored {
            let state = if due.is_some_and(|due| due > now) {
                InteractionState::Scheduled
            } else {
                InteractionState::Queued
            };
            let record = Interaction {
                direction: Direction::Outbound,
                state,
                ..self.inbound_record(now, &interaction, &queue, &number, &dnis)
            };
            self.persist(Job::Arrived(Box::new(record)));
            let created_ms = self.callback_stamp(now);
            self.persist(Job::Callback(CallbackJob::Created(Box::new(Callback {
                interaction: interaction.clone(),
                widget: widget.clone(),
                number: number.clone(),
                queue: queue.clone(),
                dnis,
                scheduled_ms: at,
                attempts,
                status: CallbackStatus::Pending,
                created_ms,
            }))));
        }
        if restored {
            // Stored already (with any edits agents made): kept for the pop-up only.
            if !cad.is_empty() {
                self.cad.insert(interaction.clone(), cad);
            }
        } else {
            self.on_arrival_cad(&interaction, &cad);
        }
        let data = json!({"interaction": interaction, "queue": queue, "widget": widget,
                          "scheduled_ms": at.map(|t| t.0), "restored": restored});
        self.publish_to("callback.created", Audience::Supervisors, data);
        Ok(())
    }

    /// Cancels a callback that has not connected; `by` says who (`customer`, a supervisor's
    /// id) in the event and the record's `failure` (`cancelled_by_<by>`).
    ///
    /// # Errors
    /// [`RoutingError::NoSuchCallback`] when it is not waiting, offered or being dialled.
    pub fn cancel_callback(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        by: &str,
    ) -> Result<(), RoutingError> {
        let now = self.advance(now);
        let agent = self
            .acd
            .interaction(interaction)
            .and_then(|ix| ix.ringing.iter().next().cloned());
        self.acd.handle_command(
            now,
            Command::CancelCallback {
                interaction: interaction.clone(),
            },
        )?;
        self.callbacks.remove(interaction);
        self.cad.remove(interaction);
        self.persist(Job::Callback(CallbackJob::Update {
            interaction: interaction.clone(),
            attempts: None,
            status: CallbackStatus::Cancelled,
        }));
        self.persist(Job::Progress(InteractionProgress {
            id: interaction.clone(),
            state: InteractionState::Ended,
            queue: None,
            agent: None,
            at: self.unix_at(now),
            abandoned: false,
            disposition: None,
            failure: Some("cancelled".into()),
        }));
        let audience = self.about_or_supervisors(agent.as_ref());
        let data = json!({"interaction": interaction, "by": by, "agent": agent});
        self.publish_to("callback.cancelled", audience, data);
        Ok(())
    }

    /// A caller who has just joined a queue whose estimated wait passes the queue's
    /// `courtesy_callback_after` is offered a callback (the switch plays the prompt).
    pub(super) fn maybe_offer_courtesy(&mut self, interaction: &InteractionId) {
        let Some(position) = self.acd.queue_position(interaction) else {
            return;
        };
        let Some(queue) = self.acd.queue(&position.queue).map(|q| q.config()) else {
            return;
        };
        let Some(after) = queue.courtesy_callback_after else {
            return;
        };
        if position.expected_wait <= after {
            return;
        }
        let prompt = queue.courtesy_prompt.clone();
        self.command_switch(crate::call::QueueCommand::OfferCallback {
            interaction: interaction.clone(),
            prompt,
        });
        let data = json!({"interaction": interaction, "queue": position.queue,
                          "expected_wait_secs": position.expected_wait.as_secs()});
        self.publish_to("callback.offered", Audience::Supervisors, data);
    }

    /// A waiting caller took the courtesy callback: the interaction becomes a callback where
    /// it stands in the queue, and the caller is hung up.
    pub(super) fn on_callback_chosen(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        number: &str,
    ) {
        let command = Command::ConvertToCallback {
            interaction: interaction.clone(),
            number: number.to_owned(),
        };
        if let Err(error) = self.acd.handle_command(now, command) {
            // An agent took the call meanwhile: nothing to convert, the caller talks.
            tracing::info!(%interaction, %error, "courtesy callback chosen too late");
            return;
        }
        let Some(ix) = self.acd.interaction(interaction) else {
            return;
        };
        let (queue, dnis) = (ix.queue.clone(), ix.dnis.clone());
        self.callbacks.insert(interaction.clone());
        let created_ms = self.callback_stamp(now);
        self.persist(Job::Callback(CallbackJob::Created(Box::new(Callback {
            interaction: interaction.clone(),
            widget: None,
            number: number.to_owned(),
            queue: queue.clone(),
            dnis,
            scheduled_ms: None,
            attempts: 0,
            status: CallbackStatus::Pending,
            created_ms,
        }))));
        self.command_switch(crate::call::QueueCommand::Hangup {
            interaction: interaction.clone(),
        });
        let position = self.acd.queue_position(interaction).map(|p| p.position);
        let data = json!({"interaction": interaction, "queue": queue, "courtesy": true,
                          "position": position});
        self.publish_to("callback.created", Audience::Supervisors, data);
    }

    /// `interaction` is a callback that has not connected yet.
    pub(super) fn is_pending_callback(&self, interaction: &InteractionId) -> bool {
        self.callbacks.contains(interaction)
    }

    /// What the ACD's news about a callback means for the store.
    pub(super) fn on_callback_news(&mut self, event: &Event) {
        match event {
            Event::CallbackRetrying {
                interaction,
                attempts,
                ..
            } => self.persist(Job::Callback(CallbackJob::Update {
                interaction: interaction.clone(),
                attempts: Some(*attempts),
                status: CallbackStatus::Pending,
            })),
            Event::CallbackFailed {
                interaction,
                attempts,
                reason,
                ..
            } => {
                self.callbacks.remove(interaction);
                self.cad.remove(interaction);
                self.persist(Job::Callback(CallbackJob::Update {
                    interaction: interaction.clone(),
                    attempts: Some(*attempts),
                    status: CallbackStatus::Failed,
                }));
                self.persist(Job::Progress(InteractionProgress {
                    id: interaction.clone(),
                    state: InteractionState::Ended,
                    queue: None,
                    agent: None,
                    at: self.unix_at(self.now),
                    abandoned: false,
                    disposition: None,
                    failure: Some(reason.clone()),
                }));
            }
            Event::InteractionConnected { interaction, .. }
                if self.callbacks.remove(interaction) =>
            {
                self.persist(Job::Callback(CallbackJob::Update {
                    interaction: interaction.clone(),
                    attempts: None,
                    status: CallbackStatus::Connected,
                }));
            }
            _ => {}
        }
    }

    /// The monotonic instant of a wall-clock time, from the anchor.
    fn instant_of(&self, at: UnixMillis) -> Instant {
        let (anchor, unix) = self.anchor;
        let at = Duration::from_millis(u64::try_from(at.0).unwrap_or(0));
        match at.checked_sub(unix) {
            Some(after) => anchor + after,
            None => anchor.checked_sub(unix - at).unwrap_or(anchor),
        }
    }
}
