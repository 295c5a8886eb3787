//! A per-tenant fair queue in front of the engine.
//!
//! At most `max_concurrent` query executions (one split, or one instant query)
//! run in the process at once. Executions that find every slot busy wait in
//! their tenant's FIFO queue; a freed slot goes to the next tenant in
//! round-robin order, so a tenant with many queued heavy queries cannot starve
//! another tenant's single light one. A tenant whose queue already holds
//! `max_outstanding_requests_per_tenant` executions is turned away at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// A waiting execution: its ID (to withdraw it) and how to wake it.
struct Waiter {
    id: u64,
    wake: oneshot::Sender<()>,
}

#[derive(Default)]
struct State {
    /// Executions holding a slot.
    running: usize,
    /// Waiting executions per queue key.
    queues: HashMap<String, VecDeque<Waiter>>,
    /// Queue keys with waiters, in the order they are served next.
    order: VecDeque<String>,
    /// The key that got the last slot: it goes behind the others next time.
    last_served: Option<String>,
    next_id: u64,
}

impl State {
    /// Hands a free slot to the next waiter in round-robin order; returns
    /// false when nobody waits.
    fn hand_over(&mut self) -> bool {
        if self.order.len() > 1 && self.order.front() == self.last_served.as_ref() {
            self.order.rotate_left(1);
        }
        while let Some(key) = self.order.pop_front() {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let Some(waiter) = queue.pop_front() else {
                self.queues.remove(&key);
                continue;
            };
            if queue.is_empty() {
                self.queues.remove(&key);
            } else {
                self.order.push_back(key.clone());
            }
            // A waiter that went away cannot take the slot; try the next one.
            if waiter.wake.send(()).is_ok() {
                self.last_served = Some(key);
                return true;
            }
        }
        false
    }

    fn queued(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

/// The tenant's queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull {
    /// The bound in force.
    pub limit: usize,
}

/// The fair scheduler shared by every query of the process.
pub(crate) struct FairQueue {
    max_concurrent: usize,
    max_queued_per_tenant: usize,
    state: Mutex<State>,
}

impl FairQueue {
    /// A queue running at most `max_concurrent` executions (at least one), with
    /// at most `max_queued_per_tenant` waiting per queue key.
    pub(crate) fn new(max_concurrent: usize, max_queued_per_tenant: usize) -> Arc<Self> {
        Arc::new(Self {
            max_concurrent: max_concurrent.max(1),
            max_queued_per_tenant,
            state: Mutex::new(State::default()),
        })
    }

    /// Waits for an execution slot for `key` (the tenant set). The slot is
    /// held until the returned [`Slot`] is dropped; dropping the future while
    /// it waits withdraws it from the queue.
    pub(crate) async fn acquire(self: &Arc<Self>, key: &str) -> Result<Slot, QueueFull> {
        let (id, rx) = {
            let mut st = self.state.lock();
            if st.running < self.max_concurrent && st.order.is_empty() {
                st.running += 1;
                st.last_served = Some(key.to_string());
                return Ok(Slot {
                    queue: Arc::clone(self),
                });
            }
            let queued = st.queues.get(key).map_or(0, VecDeque::len);
            if queued >= self.max_queued_per_tenant {
                return Err(QueueFull {
                    limit: self.max_queued_per_tenant,
                });
            }
            let id = st.next_id;
            st.next_id += 1;
            let (wake, rx) = oneshot::channel();
            if queued == 0 {
                st.order.push_back(key.to_string());
            }
            st.queues
                .entry(key.to_string())
                .or_default()
                .push_back(Waiter { id, wake });
            (id, rx)
        };
        let mut waiting = Waiting {
            queue: Arc::clone(self),
            key,
            id,
            rx: Some(rx),
        };
        let woken = match waiting.rx.as_mut() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        waiting.rx = None;
        if woken {
            Ok(Slot {
                queue: Arc::clone(self),
            })
        } else {
            // The sender is only dropped by `Waiting::drop`, which has not run;
            // treat the impossible as a full queue rather than panic.
            Err(QueueFull {
                limit: self.max_queued_per_tenant,
            })
        }
    }

    /// Executions running and waiting right now.
    pub(crate) fn load(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.running, st.queued())
    }

    fn release(&self) {
        let mut st = self.state.lock();
        if !st.hand_over() {
            st.running = st.running.saturating_sub(1);
        }
    }
}

/// A held execution slot; dropping it lets the next waiter run.
pub(crate) struct Slot {
    queue: Arc<FairQueue>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.queue.release();
    }
}

/// A queued execution; if dropped before it got its slot it leaves the
/// queue, and a slot handed to it in the meantime is passed on.
struct Waiting<'a> {
    queue: Arc<FairQueue>,
    key: &'a str,
    id: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let mut st = self.queue.state.lock();
        rx.close();
        if rx.try_recv().is_ok() {
            // Woken but never ran: pass the slot on.
            drop(st);
            self.queue.release();
            return;
        }
        if let Some(q) = st.queues.get_mut(self.key) {
            q.retain(|w| w.id != self.id);
            if q.is_empty() {
                st.queues.remove(self.key);
                st.order.retain(|k| k != self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freed_slot_goes_round_robin_across_tenants() {
        let q = FairQueue::new(1, 100);
        let first = q.acquire("a").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, key) in ["a", "a", "a", "b"].into_iter().enumerate() {
            let (queue, order) = (Arc::clone(&q), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _slot = queue.acquire(key).await.unwrap();
                order.lock().push(format!("{key}{i}"));
            }));
            // Let each waiter enqueue before the next one.
            while q.load().1 < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        // `a` just ran, so `b` goes first; then `a` in FIFO order.
        assert_eq!(*order.lock(), ["b3", "a0", "a1", "a2"]);
        assert_eq!(q.load(), (0, 0));
    }

    #[tokio::test]
    async fn full_tenant_queue_is_refused_and_cancelled_waiters_leave() {
        let q = FairQueue::new(1, 1);
        let held = q.acquire("a").await.unwrap();
        let queue = Arc::clone(&q);
        let waiter = tokio::spawn(async move { queue.acquire("a").await.map(drop) });
        while q.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(q.acquire("a").await.err(), Some(QueueFull { limit: 1 }));
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(q.load(), (1, 0));
        drop(held);
        assert_eq!(q.load(), (0, 0));
    }
}
