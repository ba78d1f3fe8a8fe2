//! A client-side request limiter: at most N requests in any window of one second, per
//! account.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A sliding-window limiter: at most `max` reservations in any half-open interval of length
/// `window`. Reservations are handed out in order; a caller that cannot go now is given the
/// earliest instant at which it may.
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    window: Duration,
}

#[derive(Debug)]
struct State {
    max: usize,
    /// The last `max` reserved send instants, oldest first.
    slots: VecDeque<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `max` (≥ 1) requests per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        let max = (max as usize).max(1);
        RateLimiter {
            state: Mutex::new(State {
                max,
                slots: VecDeque::with_capacity(max),
            }),
            window,
        }
    }

    /// The number of requests allowed per window.
    pub fn max(&self) -> u32 {
        self.lock().max as u32
    }

    /// Lowers the allowance to `max` if it is higher (never raises it).
    pub fn lower_to(&self, max: u32) {
        let mut s = self.lock();
        s.max = s.max.min((max as usize).max(1));
    }

    /// Reserves the earliest send instant at or after `now` that keeps the window rule, and
    /// returns it. Pure apart from the reservation itself: tests drive it with made-up clocks.
    pub fn reserve_at(&self, now: Instant) -> Instant {
        let window = self.window;
        let mut s = self.lock();
        let max = s.max;
        while s.slots.len() > max {
            s.slots.pop_front();
        }
        let at = if s.slots.len() < max {
            now.max(s.slots.back().copied().unwrap_or(now))
        } else {
            // The `max`-th most recent slot must be a full window before this one.
            now.max(s.slots[s.slots.len() - max] + window)
        };
        s.slots.push_back(at);
        while s.slots.len() > max {
            s.slots.pop_front();
        }
        at
    }

    /// Blocks until a request may be sent.
    pub fn acquire(&self) {
        let now = Instant::now();
        let at = self.reserve_at(now);
        if at > now {
            std::thread::sleep(at - now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain queue; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The window of the per-account limiter: one second plus a 20 % margin. The service counts
/// requests when they arrive, and arrival times jitter (network, server scheduling): with an
/// exact one-second window, request N+1 could arrive less than a second after request 1
/// although it was sent a full second later. Measured against the sandbox, which counts
/// with a sliding one-second window, an exact window drew throttling answers.
pub const ACCOUNT_WINDOW: Duration = Duration::from_millis(1200);

/// The process-wide limiter of an account (keyed by AccessKey ID), so that every client of
/// one account shares one budget: at most `max` requests in any [`ACCOUNT_WINDOW`]. A
/// stricter `max` lowers the shared allowance.
pub fn for_account(access_key_id: &str, max: u32) -> Arc<RateLimiter> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<RateLimiter>>>> = OnceLock::new();
    let mut map = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let limiter = map
        .entry(access_key_id.to_owned())
        .or_insert_with(|| Arc::new(RateLimiter::new(max, ACCOUNT_WINDOW)));
    limiter.lower_to(max);
    Arc::clone(limiter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_windows(slots: &[Instant], max: usize, window: Duration) {
        for (i, a) in slots.iter().enumerate() {
            let in_window = slots[i..].iter().filter(|b| **b < *a + window).count();
            assert!(in_window <= max, "{in_window} requests within one window");
        }
    }

    #[test]
    fn burst_is_spread_over_windows() {
        let l = RateLimiter::new(10, Duration::from_secs(1));
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..35).map(|_| l.reserve_at(t0)).collect();
        check_windows(&slots, 10, Duration::from_secs(1));
        assert_eq!(slots[9], t0);
        assert_eq!(slots[10], t0 + Duration::from_secs(1));
        assert_eq!(slots[34], t0 + Duration::from_secs(3));
    }

    #[test]
    fn lowering_applies_immediately() {
        let l = RateLimiter::new(10, Duration::from_secs(1));
        l.lower_to(2);
        l.lower_to(5);
        assert_eq!(l.max(), 2);
        let t0 = Instant::now();
        let s: Vec<Instant> = (0..3).map(|_| l.reserve_at(t0)).collect();
        assert_eq!(s[2], t0 + Duration::from_secs(1));
    }

    #[test]
    fn registry_shares_per_account() {
        let a = for_account("limiter-test-account", 10);
        let b = for_account("limiter-test-account", 4);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.max(), 4);
        let c = for_account("limiter-test-other", 10);
        assert!(!Arc::ptr_eq(&a, &c));
    }

    proptest! {
        #[test]
        fn never_more_than_max_in_any_window(
            max in 1u32..12,
            gaps in proptest::collection::vec(0u64..400, 1..80),
        ) {
            let window = Duration::from_millis(1000);
            let l = RateLimiter::new(max, window);
            let t0 = Instant::now();
            let mut now = t0;
            let mut slots = Vec::new();
            for g in gaps {
                now += Duration::from_millis(g);
                let at = l.reserve_at(now);
                prop_assert!(at >= now);
                slots.push(at);
            }
            prop_assert!(slots.windows(2).all(|w| w[0] <= w[1]));
            check_windows(&slots, max as usize, window);
        }
    }
}
