//! Wrap-up: of the interaction by the agent who has it last, or of an agent's own part of an
//! interaction it handed over (Webex's rule; see the README).

use super::super::{Store, StoreError, UnixMillis};
use super::{AGENT_PART, ListColumn, Participant};
use crate::routing::model::{AgentId, InteractionId, InteractionState};

/// What [`Store::wrap_up_interaction`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapUpOutcome {
    /// The interaction is now wrapped up.
    Done,
    /// There is no such interaction.
    NotFound,
    /// It was wrapped up before; nothing changed.
    AlreadyWrappedUp,
    /// The customer's contact is still live (queued, ringing, talking); nothing changed.
    NotEnded(InteractionState),
}

impl Store {
    /// Closes `agent`'s part of an interaction it handed over (its newest part still open)
    /// with `code` and, if given, `notes`. The ACD closes a part without a code when the
    /// agent leaves wrap-up otherwise; a part already closed is
    /// [`WrapUpOutcome::AlreadyWrappedUp`], and an agent with no part
    /// [`WrapUpOutcome::NotFound`]. The interaction's own columns are never touched.
    pub async fn wrap_up_part(
        &self,
        id: &InteractionId,
        agent: &AgentId,
        code: Option<&str>,
        notes: Option<&str>,
        at: UnixMillis,
    ) -> Result<WrapUpOutcome, StoreError> {
        let mut outcome = WrapUpOutcome::NotFound;
        self.append_to_list(
            id,
            ListColumn::Participants,
            |list: &mut Vec<Participant>| {
                let mine =
                    |p: &&mut Participant| p.role == AGENT_PART && p.address == agent.as_str();
                let Some(part) = list.iter_mut().rev().find(mine) else {
                    return;
                };
                if part.wrapped_up_ms.is_some() {
                    outcome = WrapUpOutcome::AlreadyWrappedUp;
                    return;
                }
                part.wrapped_up_ms = Some(at.0);
                part.disposition = code.map(str::to_owned);
                part.notes = notes.map(str::to_owned);
                outcome = WrapUpOutcome::Done;
            },
        )
        .await?;
        Ok(outcome)
    }

    /// Closes an [`InteractionState::Ended`] interaction with disposition `code` (callers
    /// check it is a choosable code) and, if given, replaces its notes.
    pub async fn wrap_up_interaction(
        &self,
        id: &InteractionId,
        code: Option<&str>,
        notes: Option<&str>,
        at: UnixMillis,
    ) -> Result<WrapUpOutcome, StoreError> {
        let n = sqlx::query(
            "UPDATE interactions SET state = $1, disposition_code = $2, \
             notes = COALESCE($3, notes), wrapped_up_ms = $4 WHERE id = $5 AND state = $6",
        )
        .bind(InteractionState::WrappedUp.as_str())
        .bind(code)
        .bind(notes)
        .bind(at.0)
        .bind(id.as_str())
        .bind(InteractionState::Ended.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n > 0 {
            return Ok(WrapUpOutcome::Done);
        }
        Ok(match self.get_interaction(id).await? {
            None => WrapUpOutcome::NotFound,
            Some(ix) if ix.state == InteractionState::WrappedUp => WrapUpOutcome::AlreadyWrappedUp,
            Some(ix) => WrapUpOutcome::NotEnded(ix.state),
        })
    }
}
