//! Toll-fraud controls on an outbound number (issue 15 item 2): each extension and agent has
//! a calling class, and some prefixes are never dialled whatever the class. A stolen
//! extension password is then worth internal calls only, or national ones, not hours to a
//! premium or satellite number (the usual fraud: Asterisk's and FreeSWITCH's guides both tell
//! their users to build exactly this into the dial plan).

use super::number::{E164, NumberPlan};

/// What a caller may dial, least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CallingClass {
    /// Extensions and queues only.
    Internal,
    /// Also numbers in the home country.
    National,
    /// Also every other country.
    International,
}

impl CallingClass {
    /// The class named `name` (as [`CallingClass::name`] spells it).
    #[must_use]
    pub fn parse(name: &str) -> Option<CallingClass> {
        [
            CallingClass::Internal,
            CallingClass::National,
            CallingClass::International,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }

    /// The name the profile and the API use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CallingClass::Internal => "internal",
            CallingClass::National => "national",
            CallingClass::International => "international",
        }
    }
}

/// Prefixes blocked by default: the ITU's shared international codes, where premium rates
/// and satellite tariffs live (E.164 assignments: 870 Inmarsat, 881 global mobile satellite,
/// 882/883 international networks, 979 international premium rate).
pub const DEFAULT_BLOCKED: [&str; 5] = ["+870", "+881", "+882", "+883", "+979"];

/// The rules an outbound number must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TollPolicy {
    /// E.164 prefixes (with `+`) never dialled.
    pub blocked: Vec<String>,
}

impl Default for TollPolicy {
    fn default() -> TollPolicy {
        TollPolicy {
            blocked: DEFAULT_BLOCKED.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// Why a caller may not dial a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TollRefusal {
    #[error("calling class {have} may not dial {needed} numbers")]
    Class {
        have: &'static str,
        needed: &'static str,
    },
    #[error("numbers starting {0} are blocked")]
    Blocked(String),
}

impl TollPolicy {
    /// Whether a caller of class `class` may dial `number` under `plan`.
    pub fn check(
        &self,
        plan: &NumberPlan,
        class: CallingClass,
        number: &E164,
    ) -> Result<(), TollRefusal> {
        if let Some(prefix) = self
            .blocked
            .iter()
            .filter(|p| number.as_str().starts_with(p.as_str()))
            .max_by_key(|p| p.len())
        {
            return Err(TollRefusal::Blocked(prefix.clone()));
        }
        let needed = if plan.is_national(number) {
            CallingClass::National
        } else {
            CallingClass::International
        };
        if class < needed {
            return Err(TollRefusal::Class {
                have: class.name(),
                needed: needed.name(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(raw: &str) -> E164 {
        NumberPlan::france().normalise(raw).expect("a valid number")
    }

    #[test]
    fn a_caller_dials_only_what_its_class_allows() {
        let plan = NumberPlan::france();
        let policy = TollPolicy::default();
        let paris = number("01 23 45 67 89");
        let london = number("+44 20 7946 0958");
        let check = |class, n: &E164| policy.check(&plan, class, n);
        assert_eq!(
            check(CallingClass::Internal, &paris),
            Err(TollRefusal::Class {
                have: "internal",
                needed: "national"
            })
        );
        assert_eq!(check(CallingClass::National, &paris), Ok(()));
        assert_eq!(
            check(CallingClass::National, &london),
            Err(TollRefusal::Class {
                have: "national",
                needed: "international"
            })
        );
        assert_eq!(check(CallingClass::International, &london), Ok(()));
    }

    #[test]
    fn blocked_prefixes_are_refused_even_to_international_callers() {
        let plan = NumberPlan::france();
        let mut policy = TollPolicy::default();
        // A national premium range (French 089x numbers).
        policy.blocked.push("+3389".into());
        for (raw, prefix) in [
            ("+881 6 1234 5678", "+881"),
            ("00 979 1234 5678", "+979"),
            ("08 99 12 34 56", "+3389"),
        ] {
            let refusal = policy.check(&plan, CallingClass::International, &number(raw));
            assert_eq!(refusal, Err(TollRefusal::Blocked(prefix.into())), "{raw}");
        }
        let message = policy
            .check(&plan, CallingClass::International, &number("+881612345678"))
            .unwrap_err()
            .to_string();
        assert_eq!(message, "numbers starting +881 are blocked");
    }
}
