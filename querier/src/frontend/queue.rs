//! A per-tenant fair queue in front of the engine.
//!
//! At most `max_concurrent` query executions (one split, or one instant query)
//! run in the process at once. Executions that find every slot busy wait in
//! their tenant's FIFO queue; a freed slot goes to the next tenant in
//! round-robin order, so a tenant with many queued heavy queries cannot starve
//! another tenant's single light one. Round-robin alone still makes a light
//! query wait for one of the heavy executions to finish, so a few slots
//! (`reserved_concurrent_for_idle_tenants`) are only given to tenant sets
//! with nothing running: a tenant arriving while another saturates the
//! querier starts at once. A tenant whose queue already holds
//! `max_outstanding_requests_per_tenant` executions is turned away at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// How urgently an execution's threads should get the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// The tenant set's only execution, running or waiting: a light query,
    /// or the first part of a heavy one while its other parts are not yet
    /// queued.
    Normal,
    /// An execution of a tenant set that already has another running or
    /// waiting: it yields the CPU to tenants doing less.
    Background,
}

/// A waiting execution: its ID (to withdraw it) and how to wake it.
struct Waiter {
    id: u64,
    wake: oneshot::Sender<Priority>,
}

#[derive(Default)]
struct State {
    /// Executions holding a slot.
    running: usize,
    /// The same, per queue key (keys with none are absent).
    running_per_key: HashMap<String, usize>,
    /// Waiting executions per queue key.
    queues: HashMap<String, VecDeque<Waiter>>,
    /// Queue keys with waiters, in the order they are served next.
    order: VecDeque<String>,
    /// The key that got the last slot: it goes behind the others next time.
    last_served: Option<String>,
    next_id: u64,
}

/// How many slots there are, and how many only idle tenants may take.
#[derive(Debug, Clone, Copy)]
struct Capacity {
    max: usize,
    reserved: usize,
}

impl State {
    /// Whether `key` may take a free slot: any key may fill the shared
    /// slots, only a key with nothing running may take a reserved one.
    fn may_start(&self, key: &str, cap: Capacity) -> bool {
        self.running < cap.max - cap.reserved
            || (self.running < cap.max && !self.running_per_key.contains_key(key))
    }

    /// The priority an execution of `key` starting now gets: background
    /// while the key has another execution running or waiting.
    fn priority_for(&self, key: &str) -> Priority {
        if self.running_per_key.contains_key(key) || self.queues.contains_key(key) {
            Priority::Background
        } else {
            Priority::Normal
        }
    }

    fn start(&mut self, key: &str) {
        self.running += 1;
        *self.running_per_key.entry(key.to_string()).or_default() += 1;
        self.last_served = Some(key.to_string());
    }

    fn finish(&mut self, key: &str) {
        self.running = self.running.saturating_sub(1);
        if let Some(n) = self.running_per_key.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.running_per_key.remove(key);
            }
        }
    }

    /// Hands free slots to waiters, round-robin over the keys that may start.
    fn dispatch(&mut self, cap: Capacity) {
        while self.running < cap.max {
            if self.order.len() > 1 && self.order.front() == self.last_served.as_ref() {
                self.order.rotate_left(1);
            }
            let Some(pos) = self.order.iter().position(|k| self.may_start(k, cap)) else {
                return;
            };
            let Some(key) = self.order.remove(pos) else {
                return;
            };
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
            if waiter.wake.send(self.priority_for(&key)).is_ok() {
                self.start(&key);
            }
        }
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
    cap: Capacity,
    max_queued_per_tenant: usize,
    state: Mutex<State>,
}

impl FairQueue {
    /// A queue running at most `max_concurrent` executions (at least one),
    /// `reserved` of them (at most all but one) only for keys with nothing
    /// running, with at most `max_queued_per_tenant` waiting per key.
    pub(crate) fn new(
        max_concurrent: usize,
        reserved: usize,
        max_queued_per_tenant: usize,
    ) -> Arc<Self> {
        let max = max_concurrent.max(1);
        Arc::new(Self {
            cap: Capacity {
                max,
                reserved: reserved.min(max - 1),
            },
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
            let queued = st.queues.get(key).map_or(0, VecDeque::len);
            if queued >= self.max_queued_per_tenant && !st.may_start(key, self.cap) {
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
            st.dispatch(self.cap);
            (id, rx)
        };
        let mut waiting = Waiting {
            queue: Arc::clone(self),
            key,
            id,
            rx: Some(rx),
        };
        let woken = match waiting.rx.as_mut() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        waiting.rx = None;
        if let Some(priority) = woken {
            Ok(Slot {
                queue: Arc::clone(self),
                key: key.to_string(),
                priority,
            })
        } else {
            // The sender is only dropped by `Waiting::drop`, which has not run;
            // treat the impossible as a full queue rather than panic.
            Err(QueueFull {
                limit: self.max_queued_per_tenant,
            })
        }
    }

    /// The priority an execution of `key` would get if it started now.
    pub(crate) fn priority_now(&self, key: &str) -> Priority {
        self.state.lock().priority_for(key)
    }

    /// Executions running and waiting right now.
    pub(crate) fn load(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.running, st.queued())
    }

    fn release(&self, key: &str) {
        let mut st = self.state.lock();
        st.finish(key);
        st.dispatch(self.cap);
    }
}

/// A held execution slot; dropping it lets the next waiter run.
pub(crate) struct Slot {
    queue: Arc<FairQueue>,
    key: String,
    priority: Priority,
}

impl Slot {
    /// The CPU priority the execution holding this slot runs at.
    pub(crate) fn priority(&self) -> Priority {
        self.priority
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.queue.release(&self.key);
    }
}

/// A queued execution; if dropped before it got its slot it leaves the
/// queue, and a slot handed to it in the meantime is passed on.
struct Waiting<'a> {
    queue: Arc<FairQueue>,
    key: &'a str,
    id: u64,
    rx: Option<oneshot::Receiver<Priority>>,
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
            st.finish(self.key);
            st.dispatch(self.queue.cap);
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
        let q = FairQueue::new(1, 0, 100);
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
    async fn a_busy_tenants_further_executions_run_in_the_background() {
        let q = FairQueue::new(4, 1, 100);
        let a1 = q.acquire("a").await.unwrap();
        let a2 = q.acquire("a").await.unwrap();
        let b = q.acquire("b").await.unwrap();
        assert_eq!(a1.priority(), Priority::Normal);
        assert_eq!(a2.priority(), Priority::Background);
        assert_eq!(b.priority(), Priority::Normal);
    }

    #[tokio::test]
    async fn a_tenant_with_a_backlog_runs_even_its_only_execution_in_the_background() {
        let q = FairQueue::new(1, 0, 100);
        let other = q.acquire("x").await.unwrap();
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let queue = Arc::clone(&q);
                tokio::spawn(async move { queue.acquire("a").await.unwrap().priority() })
            })
            .collect();
        while q.load().1 < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(q.priority_now("a"), Priority::Background);
        assert_eq!(q.priority_now("b"), Priority::Normal);
        drop(other);
        let mut priorities = Vec::new();
        for w in waiting {
            priorities.push(w.await.unwrap());
        }
        // The first got the slot with the second still waiting; the second
        // got it alone.
        assert_eq!(priorities, [Priority::Background, Priority::Normal]);
    }

    #[tokio::test]
    async fn reserved_slot_goes_to_an_idle_tenant_only() {
        let q = FairQueue::new(2, 1, 100);
        let a1 = q.acquire("a").await.unwrap();
        let queue = Arc::clone(&q);
        let a2 = tokio::spawn(async move { queue.acquire("a").await.map(drop) });
        while q.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        // `a` is busy: its second execution waits although a slot is free;
        // `b` has nothing running and takes the reserved slot at once.
        let b = q.acquire("b").await.unwrap();
        assert_eq!(q.load(), (2, 1));
        drop(b);
        // The freed slot is the reserved one again: still not for busy `a`.
        assert_eq!(q.load(), (1, 1));
        drop(a1);
        a2.await.unwrap().unwrap();
        assert_eq!(q.load(), (0, 0));
    }

    #[tokio::test]
    async fn full_tenant_queue_is_refused_and_cancelled_waiters_leave() {
        let q = FairQueue::new(1, 0, 1);
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
