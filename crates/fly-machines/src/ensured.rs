//! What a find-or-create (`ensure`) hands back: the resource, and whether this call made it.

use std::ops::Deref;

use crate::poll::{Acceptor, Jitter, PollError, Poller};

/// The resource an `ensure` made sure of, and whether this call created it or found it.
///
/// Every `ensure` looks first and creates only what it did not find; after an answer that was
/// lost it looks again before creating again, so a repeat (in this process or another) never
/// makes a second resource. Read the resource through `Deref` or [`into_inner`](Self::into_inner).
#[derive(Debug, Clone, PartialEq)]
pub struct Ensured<T> {
    value: T,
    created: bool,
}

impl<T> Ensured<T> {
    pub(crate) fn created(value: T) -> Ensured<T> {
        Ensured {
            value,
            created: true,
        }
    }

    pub(crate) fn found(value: T) -> Ensured<T> {
        Ensured {
            value,
            created: false,
        }
    }

    pub(crate) fn new(value: T, created: bool) -> Ensured<T> {
        Ensured { value, created }
    }

    /// Whether this call made the resource (a create of this call took effect, even when its
    /// answer was lost), rather than finding one that was already there.
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// Whether the resource was already there.
    pub fn was_found(&self) -> bool {
        !self.created
    }

    /// The resource.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The resource, keeping nothing else.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The same outcome with the resource turned into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Ensured<U> {
        Ensured {
            value: f(self.value),
            created: self.created,
        }
    }
}

impl<T> Deref for Ensured<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Time between two looks for what an ambiguous create may have made (fixed: the create's
/// answer was lost moments ago, and the resource shows up soon or not at all).
const LOOK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an `ensure` keeps looking for what an ambiguous create may have made, unless set.
pub(crate) const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a find-or-create may count on.
pub(crate) struct Plan<'a> {
    /// The clock the looks are paced with.
    pub clock: &'a std::sync::Arc<dyn crate::Clock>,
    /// How long to keep looking after an ambiguous failure.
    pub grace: std::time::Duration,
    /// Fly refuses a second resource of this name (`name_taken` or 409): a repeated create
    /// cannot make two, so it may be sent again at once; a refusal means it exists.
    pub unique_name: bool,
    /// How many creates to send at most, each after an ambiguous failure of the one before and
    /// a look that did not find what it may have made (the client's attempts per call).
    pub attempts: u32,
}

/// Looks, creates what it did not find, and after an ambiguous failure looks again (for up to
/// the grace) before creating again. A create refused because the name is taken is looked for
/// once more: it was made by an earlier attempt, run or process.
///
/// Both closures may return a builder as it is (anything awaitable), since builders own what
/// they need.
pub(crate) async fn find_or_create<T, Find, Create>(
    plan: Plan<'_>,
    find: impl Fn() -> Find,
    create: impl Fn() -> Create,
) -> crate::Result<Ensured<T>>
where
    Find: std::future::Future<Output = crate::Result<Option<T>>>,
    Create: std::future::IntoFuture<Output = crate::Result<T>>,
{
    if let Some(found) = find().await? {
        return Ok(Ensured::found(found));
    }
    let mut sent_before = false;
    let mut last_error = None;
    for _ in 0..plan.attempts.max(1) {
        let error = match create().await {
            Ok(made) => return Ok(Ensured::created(made)),
            Err(e) => e,
        };
        let ours = sent_before || error.attempts().is_some_and(|n| n > 1);
        let taken = plan.unique_name && (error.is_name_taken() || error.is_conflict());
        if !error.is_ambiguous() && (taken || ours) && error.created_unreadable().is_none() {
            // Refused because it exists: the name is taken, or an earlier attempt of this
            // call made it (a volume it attached, say, now refuses the repeat). Look for it.
            return match look(&plan, &find).await? {
                Some(found) => Ok(Ensured::new(found, ours)),
                None => Err(error),
            };
        }
        if !error.is_ambiguous() {
            return Err(error.into_created(None));
        }
        sent_before = true;
        if let Some(found) = look(&plan, &find).await? {
            return Ok(Ensured::created(found));
        }
        last_error = Some(error);
    }
    Err(last_error.unwrap_or_else(|| crate::Error::config("create failed")))
}

/// Looks again and again for up to the grace; `None` when it never showed up.
async fn look<T, Find>(plan: &Plan<'_>, find: &impl Fn() -> Find) -> crate::Result<Option<T>>
where
    Find: std::future::Future<Output = crate::Result<Option<T>>>,
{
    let poller = Poller::new(plan.clock.clone(), LOOK_INTERVAL, LOOK_INTERVAL)
        .jitter(Jitter::None)
        .timeout(plan.grace);
    let looked = poller
        .poll(|_| {
            let looking = find();
            async move {
                match looking.await {
                    Ok(Some(found)) => Acceptor::Done(found),
                    Ok(None) => Acceptor::Retry,
                    Err(e) => Acceptor::Fail(e),
                }
            }
        })
        .await;
    match looked {
        Ok(found) => Ok(Some(found)),
        Err(PollError::Failed(e)) => Err(e),
        Err(PollError::TimedOut { .. }) => Ok(None),
    }
}

/// A delete whose "not there" answer (404, or 410 for what is already being removed) counts as
/// done: `Ok(true)` when the delete was answered with success, `Ok(false)` when there was
/// nothing to delete. A teardown built on it can be run again and again.
pub(crate) fn absent_ok<T>(deleted: crate::Result<T>) -> crate::Result<bool> {
    match deleted {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() || e.is_gone() => Ok(false),
        Err(e) => Err(e),
    }
}
