//! Retry settings: a bounded number of attempts with exponential backoff and jitter.

use std::time::Duration;

use crate::OtaError;

/// How transient failures (throttling, 5xx, lost connections) are retried.
///
/// The pause before retry `n` (n = 1, 2, ...) is drawn uniformly from
/// `[b/2, b]` where `b = min(max_backoff, initial_backoff × 2^(n-1))`: exponential, with
/// jitter so that many clients do not retry in step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. Default 6; must be 1–20.
    pub max_attempts: u32,
    /// The first pause. Default 500 ms.
    pub initial_backoff: Duration,
    /// The longest pause. Default 20 s; must be ≥ `initial_backoff`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), OtaError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(OtaError::InvalidOption {
                name: "retry.max_attempts",
                reason: format!("must be 1 to 20, not {}", self.max_attempts),
            });
        }
        if self.max_backoff < self.initial_backoff {
            return Err(OtaError::InvalidOption {
                name: "retry.max_backoff",
                reason: format!(
                    "{:?} is shorter than initial_backoff {:?}",
                    self.max_backoff, self.initial_backoff
                ),
            });
        }
        Ok(())
    }

    /// The pause before retry number `retry` (1 for the first retry), with jitter drawn
    /// from `unit` ∈ [0, 1].
    pub fn backoff_with(&self, retry: u32, unit: f64) -> Duration {
        let shift = retry.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        base / 2 + (base / 2).mul_f64(unit)
    }

    /// The pause before retry number `retry`, with random jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, rand::random::<f64>())
    }

    /// Sleeps before retry number `retry`.
    pub(crate) fn pause(&self, retry: u32) {
        let d = self.backoff(retry);
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        assert_eq!(p.backoff_with(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff_with(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff_with(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff_with(9, 1.0), Duration::from_millis(1000));
        assert_eq!(p.backoff_with(u32::MAX, 0.5), Duration::from_millis(750));
        for r in 1..10 {
            let d = p.backoff(r);
            assert!(d <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        let mut p = RetryPolicy::default();
        p.validate().unwrap();
        p.max_attempts = 0;
        assert!(p.validate().is_err());
        p = RetryPolicy {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert!(p.validate().is_err());
    }
}
