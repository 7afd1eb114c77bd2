//! The rate governor shared by every task of one client: a token bucket (GCRA) that hands out send
//! times, and a pause that a 429 imposes on the whole client.
//!
//! Each request reserves the next free slot and sleeps until it, so waiters leave in order and none
//! is woken just to find the bucket still empty. Time is tokio's, so tests can pause it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// A rate limit: Coupa allows 25 requests per second with a burst of 20.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second. Default 25.
    pub per_second: f64,
    /// Requests that may go at once when the bucket is full. Default 20.
    pub burst: u32,
    /// Burst slots the client leaves unused. Requests that leave on time can still reach Coupa
    /// bunched together (scheduling, connection set-up); one spare slot absorbs up to one request
    /// interval (40 ms at 25/s) of such bunching. Default 1.
    pub spare: u32,
}

impl Default for Rate {
    fn default() -> Rate {
        Rate {
            per_second: 25.0,
            burst: 20,
            spare: 1,
        }
    }
}

impl Rate {
    /// The time the governor needs to send `n` requests from a full bucket: the floor any client
    /// obeying this rate is held to.
    pub fn floor(&self, n: u32) -> Duration {
        let usable = self.burst.saturating_sub(self.spare).max(1);
        Duration::from_secs_f64(f64::from(n.saturating_sub(usable)) / self.per_second)
    }
}

#[derive(Debug)]
struct State {
    /// GCRA's theoretical arrival time: when the bucket will be back to empty-plus-one.
    tat: Instant,
    /// Nothing is sent before this (set by a 429).
    paused_until: Instant,
}

/// One per client; every request of every task passes through [`Governor::acquire`].
#[derive(Debug)]
pub(crate) struct Governor {
    /// Interval between requests and how far ahead of it a burst may run; `None`: no rate limit.
    bucket: Option<(Duration, Duration)>,
    state: Mutex<State>,
    /// 429s in a row without a `Retry-After`, to grow the backoff.
    throttles: AtomicU32,
}

impl Governor {
    pub fn new(rate: Option<Rate>) -> Result<Governor, String> {
        let bucket = match rate {
            None => None,
            Some(r) => {
                if !(r.per_second.is_finite() && r.per_second > 0.0) {
                    return Err(format!(
                        "rate per_second must be a positive number, found {}",
                        r.per_second
                    ));
                }
                let usable = r.burst.saturating_sub(r.spare);
                if usable == 0 {
                    return Err(format!(
                        "rate burst ({}) must exceed its spare slots ({})",
                        r.burst, r.spare
                    ));
                }
                let interval = Duration::from_secs_f64(1.0 / r.per_second);
                Some((interval, interval * (usable - 1)))
            }
        };
        let now = Instant::now();
        Ok(Governor {
            bucket,
            state: Mutex::new(State {
                tat: now,
                paused_until: now,
            }),
            throttles: AtomicU32::new(0),
        })
    }

    /// Reserves the next send time and returns it.
    fn reserve(&self, now: Instant) -> Instant {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut slot = now.max(s.paused_until);
        if let Some((interval, tolerance)) = self.bucket {
            let conforming = s.tat.checked_sub(tolerance).unwrap_or(now);
            slot = slot.max(conforming);
            s.tat = s.tat.max(slot) + interval;
        }
        slot
    }

    /// Waits for this request's turn; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let now = Instant::now();
        let slot = self.reserve(now);
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        slot - now
    }

    /// A 429 arrived: nobody sends before `wait` is over. `wait` is the answer's `Retry-After`, or a
    /// backoff drawn by `backoff` from the number of 429s in a row.
    pub fn throttled(&self, retry_after: Option<Duration>, backoff: impl Fn(u32) -> Duration) {
        let wait = retry_after.unwrap_or_else(|| {
            let n = self.throttles.fetch_add(1, Ordering::Relaxed) + 1;
            backoff(n)
        });
        let until = Instant::now() + wait;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.paused_until = s.paused_until.max(until);
    }

    /// An answer other than 429 arrived: the next 429 starts the backoff afresh.
    pub fn relieved(&self) {
        if self.throttles.load(Ordering::Relaxed) != 0 {
            self.throttles.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn coupa() -> Governor {
        Governor::new(Some(Rate {
            spare: 0,
            ..Rate::default()
        }))
        .unwrap()
    }

    /// Send times (ms from start) of `n` requests made by `tasks` concurrent tasks.
    async fn send_times(governor: Arc<Governor>, tasks: usize, n: usize) -> Vec<u128> {
        let start = Instant::now();
        let per_task = n / tasks;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let g = governor.clone();
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    for _ in 0..per_task {
                        g.acquire().await;
                        times.push(start.elapsed().as_millis());
                    }
                    times
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        all
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_the_burst_through_then_paces_at_the_rate() {
        let times = send_times(Arc::new(coupa()), 16, 160).await;
        assert_eq!(times[..20], [0; 20]);
        // Then one request every 40 ms: the 21st at 40 ms, the 160th at 140 × 40 ms.
        assert_eq!(times[20], 40);
        assert_eq!(times[159], 140 * 40);
        assert!(times.windows(2).skip(20).all(|w| w[1] - w[0] == 40));
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_burst_plus_rate_in_any_window() {
        let times = send_times(Arc::new(coupa()), 16, 400).await;
        // Coupa's bucket: in any window of w ms at most 20 + 25·w/1000 requests.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < t + 1000).count();
            assert!(
                in_window <= 20 + 25,
                "{in_window} requests in the second from {t} ms"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn spare_slots_shrink_the_burst_only() {
        let g = Governor::new(Some(Rate::default())).unwrap();
        let times = send_times(Arc::new(g), 1, 21).await;
        assert_eq!(times[..19], [0; 19]);
        assert_eq!(times[19..], [40, 80]);
        assert_eq!(
            Rate::default().floor(1000),
            Duration::from_secs_f64(981.0 / 25.0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_task() {
        let g = Arc::new(Governor::new(None).unwrap());
        g.throttled(Some(Duration::from_secs(3)), |_| Duration::ZERO);
        let times = send_times(g, 4, 8).await;
        assert!(times.iter().all(|t| *t == 3000), "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_without_retry_after_back_off_more_each_time() {
        let g = Governor::new(None).unwrap();
        let backoff = |n: u32| Duration::from_secs(u64::from(n));
        g.throttled(None, backoff);
        assert_eq!(g.acquire().await, Duration::from_secs(1));
        g.throttled(None, backoff);
        assert_eq!(g.acquire().await, Duration::from_secs(2));
        g.relieved();
        g.throttled(None, backoff);
        assert_eq!(g.acquire().await, Duration::from_secs(1));
    }

    #[test]
    fn rejects_unusable_rates() {
        for rate in [
            Rate {
                per_second: 0.0,
                ..Rate::default()
            },
            Rate {
                per_second: f64::NAN,
                ..Rate::default()
            },
            Rate {
                burst: 1,
                spare: 1,
                ..Rate::default()
            },
        ] {
            assert!(Governor::new(Some(rate)).is_err(), "{rate:?}");
        }
    }
}
