//! What the emulator counts as serving, change by change, for tests that check a deploy's
//! floor ("never fewer than N machines serving") from the emulator's side.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::state::ServingFlip;

/// One change in whether a machine of an app serves (is `started` and not cordoned), with
/// how many of the app's machines serve right after it. Changes are in the order the emulator
/// applied them: a transition that falls due is applied when the machine is next looked at,
/// so a machine counts as serving from the first look after it started, never earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServingChange {
    /// Order of application; later changes have larger numbers (also across calls, so a test
    /// can note the last one before a phase and look only at what follows).
    pub seq: u64,
    /// When, on the emulator's clock.
    pub at: SystemTime,
    /// The machine.
    pub machine: String,
    /// Whether it serves from this change on.
    pub serving: bool,
    /// How many of the app's machines serve right after this change.
    pub count: usize,
}

/// Merges each machine's changes into one timeline with running counts.
pub(crate) fn timeline<'a>(
    machines: impl Iterator<Item = (&'a str, &'a [ServingFlip])>,
) -> Vec<ServingChange> {
    let mut all: Vec<(ServingFlip, &str)> = machines
        .flat_map(|(id, flips)| flips.iter().map(move |f| (*f, id)))
        .collect();
    all.sort_by_key(|(f, _)| f.seq);
    let mut count = 0usize;
    all.into_iter()
        .map(|(f, id)| {
            count = if f.serving {
                count.saturating_add(1)
            } else {
                count.saturating_sub(1)
            };
            ServingChange {
                seq: f.seq,
                at: UNIX_EPOCH + Duration::from_millis(f.at),
                machine: id.to_owned(),
                serving: f.serving,
                count,
            }
        })
        .collect()
}
