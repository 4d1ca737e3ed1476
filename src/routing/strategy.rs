//! Agent selection: which Available agents qualify for a queue's caller, and which of them
//! the queue's [`Strategy`] picks.
//!
//! Qualification is common to all strategies: the agent is Available, belongs to one of the
//! queue's teams (if it names any) and holds every required skill at the required level or
//! better. Ties are always broken by agent id, so selection is deterministic.

use super::agent::Agent;
use super::model::{AgentConfig, AgentId, QueueConfig, Strategy};
use super::queue::Queue;

/// Whether the agent may take this queue's calls (team filter and required skills).
#[must_use]
pub fn serves(agent: &AgentConfig, queue: &QueueConfig) -> bool {
    let in_team = queue.teams.is_empty()
        || agent
            .team
            .as_ref()
            .is_some_and(|team| queue.teams.contains(team));
    in_team
        && queue.required_skills.iter().all(|required| {
            agent
                .skills
                .iter()
                .any(|held| held.name == required.name && held.level >= required.level)
        })
}

/// The agent's summed levels in the queue's required skills (higher is more skilled).
#[must_use]
pub fn skill_score(agent: &AgentConfig, queue: &QueueConfig) -> u32 {
    queue
        .required_skills
        .iter()
        .filter_map(|required| {
            agent
                .skills
                .iter()
                .find(|held| held.name == required.name)
                .map(|held| u32::from(held.level))
        })
        .sum()
}

/// The agents to ring for the queue's next caller, chosen by its strategy from `candidates`
/// (already Available, qualified and not excluded for this caller). One agent, or every
/// candidate for ring-all; empty when nobody qualifies.
#[must_use]
pub fn choose(queue: &Queue, candidates: &[&Agent]) -> Vec<AgentId> {
    let config = queue.config();
    let pick = match config.strategy {
        Strategy::RingAll => {
            let mut all: Vec<AgentId> = candidates.iter().map(|a| a.id().clone()).collect();
            all.sort();
            return all;
        }
        Strategy::LongestIdle => candidates
            .iter()
            .min_by(|a, b| (a.idle_since(), a.id()).cmp(&(b.idle_since(), b.id()))),
        Strategy::SkillsBased => candidates.iter().min_by(|a, b| {
            let score = |x: &Agent| std::cmp::Reverse(skill_score(x.config(), config));
            (score(a), a.idle_since(), a.id()).cmp(&(score(b), b.idle_since(), b.id()))
        }),
        Strategy::RoundRobin => {
            let after = |a: &&&Agent| queue.last_offered.as_ref().is_none_or(|last| a.id() > last);
            candidates
                .iter()
                .filter(after)
                .min_by_key(|a| a.id())
                .or_else(|| candidates.iter().min_by_key(|a| a.id()))
        }
    };
    pick.map(|agent| vec![agent.id().clone()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::model::{Role, Skill};

    fn agent(id: &str, team: Option<&str>, skills: &[(&str, u8)]) -> AgentConfig {
        AgentConfig {
            id: id.into(),
            name: id.into(),
            team: team.map(Into::into),
            skills: skills
                .iter()
                .map(|(name, level)| Skill {
                    name: (*name).to_owned(),
                    level: *level,
                })
                .collect(),
            role: Role::Agent,
            calling_class: None,
        }
    }

    fn queue(teams: &[&str], skills: &[(&str, u8)]) -> QueueConfig {
        QueueConfig {
            id: "q".into(),
            name: "q".into(),
            number: "7000".into(),
            strategy: Strategy::SkillsBased,
            required_skills: agent("x", None, skills).skills,
            teams: teams.iter().map(|t| (*t).into()).collect(),
            ring_timeout: std::time::Duration::from_secs(15),
            max_wait: None,
            overflow: None,
            wrap_up_max: None,
            last_agent_routing: false,
            disposition_required: false,
            music: None,
            recording: None,
            noise_suppression: None,
            max_calls: 0,
            outdial_caller_id: None,
            courtesy_callback_after: None,
            courtesy_prompt: None,
        }
    }

    #[test]
    fn an_agent_needs_every_required_skill_at_the_required_level() {
        let q = queue(&[], &[("french", 5), ("billing", 2)]);
        assert!(serves(
            &agent("a", None, &[("french", 5), ("billing", 9)]),
            &q
        ));
        assert!(!serves(
            &agent("b", None, &[("french", 4), ("billing", 9)]),
            &q
        ));
        assert!(!serves(&agent("c", None, &[("french", 9)]), &q));
        assert_eq!(
            skill_score(&agent("a", None, &[("french", 5), ("billing", 9)]), &q),
            14
        );
    }

    #[test]
    fn the_team_filter_admits_only_listed_teams() {
        let q = queue(&["north"], &[]);
        assert!(serves(&agent("a", Some("north"), &[]), &q));
        assert!(!serves(&agent("b", Some("south"), &[]), &q));
        assert!(!serves(&agent("c", None, &[]), &q));
        assert!(serves(&agent("c", None, &[]), &queue(&[], &[])));
    }
}
