//! Which trunks carry a call to an external number: the outbound dial plan picks the route
//! with the longest prefix matching the E.164 number, and the route lists trunks in the
//! order to try them (issue 15 item 2). A gateway that is down or overloaded hands the call
//! to the next; a callee that is busy or declines does not (another carrier would ring the
//! same busy phone), which is how FreeSWITCH's `continue_on_fail` and Asterisk's `Dial`
//! fallbacks are usually set up for carriers.

use super::number::E164;

/// A prefix (E.164, with `+`; `+` alone matches everything) and the trunks to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRoute {
    pub prefix: String,
    pub trunks: Vec<String>,
}

/// Every outbound route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPlan {
    routes: Vec<OutboundRoute>,
}

/// Why a route list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route prefix {0:?} must be '+' and digits")]
    BadPrefix(String),
    #[error("route {0} lists no trunk")]
    NoTrunk(String),
    #[error("two routes have the prefix {0}")]
    Duplicate(String),
}

impl OutboundPlan {
    /// The plan of `routes`, checked.
    pub fn new(routes: Vec<OutboundRoute>) -> Result<OutboundPlan, RouteError> {
        let mut seen = std::collections::HashSet::new();
        for route in &routes {
            let digits = route.prefix.strip_prefix('+');
            if !digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())) {
                return Err(RouteError::BadPrefix(route.prefix.clone()));
            }
            if route.trunks.is_empty() {
                return Err(RouteError::NoTrunk(route.prefix.clone()));
            }
            if !seen.insert(route.prefix.as_str()) {
                return Err(RouteError::Duplicate(route.prefix.clone()));
            }
        }
        Ok(OutboundPlan { routes })
    }

    /// Whether there is no route at all (nothing is dialled out).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The trunks to try for `number`, in order: those of the longest matching prefix.
    #[must_use]
    pub fn trunks_for(&self, number: &E164) -> Option<&[String]> {
        self.routes
            .iter()
            .filter(|r| number.as_str().starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
            .map(|r| r.trunks.as_slice())
    }
}

/// How an attempt through one gateway ended, as far as failing over is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// A final response with this status.
    Status(u16),
    /// No response at all before the INVITE transaction gave up (Timer B).
    NoResponse,
}

/// Whether the call goes on to the next gateway or trunk: the gateway's own trouble (no
/// answer from it, 408, 5xx other than a callee's decline) does; the callee's answer (busy,
/// declined, not found, any other 4xx or 6xx) ends the call with that answer.
#[must_use]
pub fn fails_over(end: AttemptEnd) -> bool {
    match end {
        AttemptEnd::NoResponse => true,
        AttemptEnd::Status(code) => matches!(code, 408 | 500 | 502 | 503 | 504),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialing::NumberPlan;

    fn route(prefix: &str, trunks: &[&str]) -> OutboundRoute {
        OutboundRoute {
            prefix: prefix.into(),
            trunks: trunks.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn number(raw: &str) -> E164 {
        NumberPlan::france().normalise(raw).expect("a valid number")
    }

    #[test]
    fn the_longest_matching_prefix_picks_the_trunks() {
        let plan = OutboundPlan::new(vec![
            route("+", &["carrier-a", "carrier-b"]),
            route("+33", &["carrier-fr"]),
            route("+336", &["mobile-gw", "carrier-fr"]),
        ])
        .unwrap();
        let names = |raw| plan.trunks_for(&number(raw)).map(<[String]>::to_vec);
        assert_eq!(
            names("06 12 34 56 78"),
            Some(vec!["mobile-gw".into(), "carrier-fr".into()])
        );
        assert_eq!(names("01 23 45 67 89"), Some(vec!["carrier-fr".into()]));
        assert_eq!(
            names("+44 20 7946 0958"),
            Some(vec!["carrier-a".into(), "carrier-b".into()])
        );
        let national_only = OutboundPlan::new(vec![route("+33", &["carrier-fr"])]).unwrap();
        assert_eq!(national_only.trunks_for(&number("+44 20 7946 0958")), None);
    }

    #[test]
    fn a_bad_route_list_is_refused_naming_the_route() {
        assert_eq!(
            OutboundPlan::new(vec![route("33", &["a"])]),
            Err(RouteError::BadPrefix("33".into()))
        );
        assert_eq!(
            OutboundPlan::new(vec![route("+3a", &["a"])]),
            Err(RouteError::BadPrefix("+3a".into()))
        );
        assert_eq!(
            OutboundPlan::new(vec![route("+33", &[])]),
            Err(RouteError::NoTrunk("+33".into()))
        );
        assert_eq!(
            OutboundPlan::new(vec![route("+33", &["a"]), route("+33", &["b"])]),
            Err(RouteError::Duplicate("+33".into()))
        );
    }

    #[test]
    fn the_gateways_trouble_fails_over_and_the_callees_answer_does_not() {
        for end in [
            AttemptEnd::NoResponse,
            AttemptEnd::Status(408),
            AttemptEnd::Status(500),
            AttemptEnd::Status(503),
            AttemptEnd::Status(504),
        ] {
            assert!(fails_over(end), "{end:?}");
        }
        for code in [404, 480, 486, 487, 600, 603] {
            assert!(!fails_over(AttemptEnd::Status(code)), "{code}");
        }
    }
}
