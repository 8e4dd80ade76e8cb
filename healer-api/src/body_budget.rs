//! The memory request bodies may take at once (`ingest.max_inflight_bytes`): a byte semaphore
//! that a request draws on as it grows — its body as the bytes arrive, the body decompressed,
//! the records decoded — and gives back when it is answered. So the bodies in flight never take
//! more than the budget, however many requests come at once, and what a request holds is what
//! it was actually sent: a connection that declares 4 MiB and sends one byte holds one byte's
//! worth (rounded up to the buffer's doubling).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why [`BodyHold::try_grow`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Other requests hold the rest of the budget; this one may be sent again later (429).
    Busy,
    /// This request alone would need more than the whole budget (413).
    TooLarge,
}

/// The budget shared by every request.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    capacity: usize,
}

impl BodyBudget {
    /// A budget of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// A request's share, empty until it grows.
    pub fn hold(&self) -> BodyHold {
        BodyHold {
            budget: self.clone(),
            permit: None,
        }
    }

    /// Bytes no request holds.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// The whole budget.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The bytes one request holds; given back when dropped.
#[derive(Debug)]
pub struct BodyHold {
    budget: BodyBudget,
    permit: Option<OwnedSemaphorePermit>,
}

impl BodyHold {
    /// Takes `n` more bytes if they are free, without waiting.
    pub fn try_grow(&mut self, n: usize) -> Result<(), Refusal> {
        if n == 0 {
            return Ok(());
        }
        if self.held().saturating_add(n) > self.budget.capacity {
            return Err(Refusal::TooLarge);
        }
        let n = u32::try_from(n).map_err(|_| Refusal::TooLarge)?;
        let more = self
            .budget
            .bytes
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| Refusal::Busy)?;
        match &mut self.permit {
            Some(permit) => permit.merge(more),
            None => self.permit = Some(more),
        }
        Ok(())
    }

    /// Gives back `n` of the bytes held (all of them if it holds fewer).
    pub fn release(&mut self, n: usize) {
        if let Some(permit) = &mut self.permit {
            let n = n.min(permit.num_permits());
            drop(permit.split(n));
        }
    }

    /// Bytes held.
    pub fn held(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_draw_on_one_budget_and_give_back() {
        let budget = BodyBudget::new(100);
        let mut a = budget.hold();
        let mut b = budget.hold();
        assert_eq!(a.try_grow(60), Ok(()));
        assert_eq!(a.try_grow(0), Ok(()));
        assert_eq!(b.try_grow(50), Err(Refusal::Busy), "60 of 100 held");
        assert_eq!(b.try_grow(101), Err(Refusal::TooLarge));
        assert_eq!(a.try_grow(41), Err(Refusal::TooLarge), "60 + 41 > 100");
        assert_eq!(b.try_grow(40), Ok(()));
        assert_eq!(budget.available(), 0);
        a.release(20);
        assert_eq!((a.held(), budget.available()), (40, 20));
        assert_eq!(b.try_grow(20), Ok(()));
        a.release(1000);
        assert_eq!((a.held(), budget.available()), (0, 40));
        drop(b);
        assert_eq!(budget.available(), 100);
        assert_eq!(budget.capacity(), 100);
    }
}
