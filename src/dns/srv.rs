//! The order SRV targets are tried in (RFC 2782, "Usage rules"): lowest priority first; within
//! a priority, a weighted random draw without replacement, each pick's chance proportional to
//! its weight, weight-0 records placed first in the list so they are picked only when the
//! draw lands on 0 (rarely while others have weight, always once only they are left).

use super::message::Srv;
use rand::Rng;

/// `records` in the order to try them, drawing from `rng` (seed it for a reproducible order).
/// A record whose target is `.` is left out: it says the service is not offered there.
pub fn order<R: Rng + ?Sized>(records: &[Srv], rng: &mut R) -> Vec<Srv> {
    let mut pending: Vec<&Srv> = records.iter().filter(|r| !r.target.is_root()).collect();
    // Stable: within a priority, weight-0 records first, the others as they came.
    pending.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut ordered = Vec::with_capacity(pending.len());
    while let Some(first) = pending.first() {
        let priority = first.priority;
        let group_len = pending
            .iter()
            .take_while(|r| r.priority == priority)
            .count();
        let mut group: Vec<&Srv> = pending.drain(..group_len).collect();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let draw = rng.random_range(0..=total);
            let mut running = 0;
            let pick = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= draw
                })
                // The running sum reaches `total` at the last record, and `draw <= total`.
                .unwrap_or(group.len() - 1);
            ordered.push(group.remove(pick).clone());
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Name;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 5060,
            target: Name::from_dotted(target).unwrap(),
        }
    }

    fn targets(records: &[Srv]) -> Vec<String> {
        records.iter().map(|r| r.target.to_string()).collect()
    }

    #[test]
    fn lower_priorities_come_first_whatever_their_weight() {
        let records = [
            srv(20, 100, "backup.example"),
            srv(10, 1, "main-b.example"),
            srv(30, 0, "last.example"),
            srv(10, 1, "main-a.example"),
        ];
        for seed in 0..50 {
            let got = targets(&order(&records, &mut StdRng::seed_from_u64(seed)));
            assert_eq!(got.len(), 4);
            let mut main = got[..2].to_vec();
            main.sort();
            assert_eq!(main, ["main-a.example", "main-b.example"], "seed {seed}");
            assert_eq!(got[2..], ["backup.example", "last.example"], "seed {seed}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let records: Vec<Srv> = (0..6)
            .map(|i| srv(10, 10, &format!("gw{i}.example")))
            .collect();
        let a = order(&records, &mut StdRng::seed_from_u64(7));
        let b = order(&records, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    #[test]
    fn within_a_priority_weights_share_the_first_pick() {
        let records = [
            srv(10, 60, "sixty.example"),
            srv(10, 30, "thirty.example"),
            srv(10, 10, "ten.example"),
        ];
        let mut rng = StdRng::seed_from_u64(2782);
        let mut firsts = std::collections::HashMap::<String, u32>::new();
        for _ in 0..10_000 {
            let first = order(&records, &mut rng).remove(0).target.to_string();
            *firsts.entry(first).or_default() += 1;
        }
        // 6000, 3000 and 1000 expected; a binomial's σ here is under 50.
        let share = |t: &str| firsts.get(t).copied().unwrap_or(0);
        assert!((5800..6200).contains(&share("sixty.example")), "{firsts:?}");
        assert!(
            (2800..3200).contains(&share("thirty.example")),
            "{firsts:?}"
        );
        assert!((850..1150).contains(&share("ten.example")), "{firsts:?}");
    }

    #[test]
    fn a_weight_0_record_is_picked_first_only_when_the_draw_is_0() {
        let records = [srv(10, 0, "zero.example"), srv(10, 50, "fifty.example")];
        let mut rng = StdRng::seed_from_u64(1);
        let zero_first = (0..10_000)
            .filter(|_| order(&records, &mut rng)[0].target.to_string() == "zero.example")
            .count();
        // The draw is uniform on 0..=50: 1 in 51.
        assert!((100..300).contains(&zero_first), "{zero_first}");
    }

    #[test]
    fn weight_0_records_alone_keep_the_order_they_came_in() {
        let records = [
            srv(10, 0, "a.example"),
            srv(10, 0, "b.example"),
            srv(10, 0, "c.example"),
        ];
        for seed in 0..20 {
            let got = targets(&order(&records, &mut StdRng::seed_from_u64(seed)));
            assert_eq!(got, ["a.example", "b.example", "c.example"]);
        }
    }

    #[test]
    fn a_root_target_says_no_service_and_is_left_out() {
        let records = [
            Srv {
                target: Name::root(),
                ..srv(0, 0, "x.example")
            },
            srv(10, 0, "real.example"),
        ];
        let got = targets(&order(&records, &mut StdRng::seed_from_u64(0)));
        assert_eq!(got, ["real.example"]);
    }
}
