//! Moves with extra machines: canaries made anew, or a rolling `max_surge`. Which updates get
//! a new machine standing in for them, which canaries move in place, and how wide the rest
//! roll, so that serving keeps its floor (n for canaries, n − `max_unavailable` for a surge),
//! also when a run cut short left surplus machines behind.

use crate::plan::Step;

/// How a move with extra machines (canaries made anew, or a rolling `max_surge`) splits its
/// updates.
pub(crate) struct Surge<'a> {
    /// Extra machines wanted while moving: the canaries, or the surge.
    pub(crate) extra: usize,
    /// Whether the extra machines are canaries (the rest wait for them, and roll no wider than
    /// the extra machines serving) or a rolling surge (the rest roll as wide as
    /// `max_unavailable` plus the extra machines).
    pub(crate) canary: bool,
    /// The most machines out of service at once (`max_unavailable`).
    pub(crate) batch: usize,
    /// The plan's updates, in its order.
    pub(crate) updates: &'a [&'a Step],
    /// How many surplus machines the plan destroys at the end (they serve until then).
    pub(crate) surplus: usize,
}

impl<'a> Surge<'a> {
    /// How many machines are made new: the extra ones the surplus does not already stand for.
    pub(crate) fn made(&self) -> usize {
        self.extra
            .saturating_sub(self.surplus)
            .min(self.updates.len())
    }

    /// The updates whose machines get a new one made for them (and are destroyed at the end),
    /// the canaries that move in place (as many as the surplus covers), and the rest.
    pub(crate) fn stages(&self) -> (&'a [&'a Step], &'a [&'a Step], &'a [&'a Step]) {
        let (stood_in, others) = self.updates.split_at(self.made());
        let in_place = if self.canary {
            self.extra.saturating_sub(stood_in.len()).min(others.len())
        } else {
            0
        };
        let (in_place, rest) = others.split_at(in_place);
        (stood_in, in_place, rest)
    }

    /// How many of the rest move at once. Canaries: no more than there are extra machines
    /// serving (the machines made and the surplus), nor than `max_unavailable`, so serving
    /// stays at n. A rolling surge: `max_unavailable` plus the extra machines, so serving
    /// stays at n − `max_unavailable`.
    pub(crate) fn width(&self) -> usize {
        let extra = self.made().saturating_add(self.surplus);
        if self.canary {
            extra.min(self.batch).max(1)
        } else {
            extra.saturating_add(self.batch).max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(n: usize) -> Vec<Step> {
        (0..n)
            .map(|i| Step::Update {
                machine_id: format!("m{i}"),
                region: "iad".into(),
                from_revision: Some("old".into()),
                to_revision: "new".into(),
                version: None,
                reason: crate::plan::UpdateReason::NewRevision,
                changes: Vec::new(),
            })
            .collect()
    }

    fn lens(s: &Surge<'_>) -> (usize, usize, usize, usize) {
        let (a, b, c) = s.stages();
        (a.len(), b.len(), c.len(), s.width())
    }

    #[test]
    fn a_first_canary_run_makes_its_canaries_and_rolls_no_wider_than_them() {
        let steps = updates(5);
        let refs: Vec<&Step> = steps.iter().collect();
        let canary = |extra, batch| Surge {
            extra,
            canary: true,
            batch,
            updates: &refs,
            surplus: 0,
        };
        // (made, in place, rest, width)
        assert_eq!(lens(&canary(1, 2)), (1, 0, 4, 1));
        assert_eq!(lens(&canary(2, 1)), (2, 0, 3, 1));
        assert_eq!(lens(&canary(2, 3)), (2, 0, 3, 2));
        // More canaries than machines to move: every one gets a canary.
        assert_eq!(lens(&canary(9, 1)), (5, 0, 0, 1));
    }

    #[test]
    fn a_resumed_canary_run_counts_the_surplus_and_makes_no_more() {
        let steps = updates(3);
        let refs: Vec<&Step> = steps.iter().collect();
        let resumed = |extra, surplus| Surge {
            extra,
            canary: true,
            batch: 1,
            updates: &refs,
            surplus,
        };
        // The canary exists: the old machine it stood for is surplus. None made, one canary
        // moves in place first.
        assert_eq!(lens(&resumed(1, 1)), (0, 1, 2, 1));
        // Two canaries wanted, one was made before the crash.
        assert_eq!(lens(&resumed(2, 1)), (1, 1, 1, 1));
    }

    #[test]
    fn a_rolling_surge_rolls_max_unavailable_plus_the_extra_machines_wide() {
        let steps = updates(6);
        let refs: Vec<&Step> = steps.iter().collect();
        let surge = |extra, batch, surplus| Surge {
            extra,
            canary: false,
            batch,
            updates: &refs,
            surplus,
        };
        assert_eq!(lens(&surge(2, 1, 0)), (2, 0, 4, 3));
        assert_eq!(lens(&surge(2, 1, 2)), (0, 0, 6, 3));
    }
}
