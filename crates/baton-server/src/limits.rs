//! Rate limits of the HTTP transport, checked by the guard layer around `/mcp`: one budget per
//! authenticated principal (`--rate-limit`, `--rate-burst`), and one per client address for
//! requests that fail authentication (`--auth-failure-rate-limit`, `--auth-failure-burst`).
//! Over budget, a request is answered `429 Too Many Requests` with `Retry-After` (whole
//! seconds, rounded up).
//!
//! The budgets are GCRA (`governor`): a caller may send `burst` requests at once, then one
//! per `1/rate`. Each instance keeps its own budgets in memory, so a fleet of N instances
//! behind a load balancer admits up to N × rate per caller. Budgets of callers not seen for
//! a while are indistinguishable from fresh ones and are dropped every [`PRUNE_EVERY`], so the
//! state grows with the callers active in the last `burst / rate` seconds, not without end.

use std::{
    fmt,
    hash::Hash,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    str::FromStr,
    sync::{Arc, Weak},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request},
    http::{StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

use crate::principal::Principal;

/// How often budgets that are back to full are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// The largest count of a [`RateLimit`] per period (one per microsecond at most).
pub const MAX_RATE_COUNT: u32 = 1_000_000;

/// A rate limit as written on the command line: `N/s`, `N/m`, `N/h`, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// No limit.
    Off,
    /// `count` requests per `period`.
    Every {
        /// Requests per period (at least 1).
        count: NonZeroU32,
        /// The period: a second, a minute or an hour.
        period: Duration,
    },
}

impl RateLimit {
    /// The GCRA quota for this rate and `burst`, or `None` when off.
    pub fn quota(self, burst: NonZeroU32) -> Option<Quota> {
        match self {
            RateLimit::Off => None,
            RateLimit::Every { count, period } => {
                // Never zero: count ≤ MAX_RATE_COUNT and period ≥ 1 s.
                Quota::with_period(period / count.get()).map(|q| q.allow_burst(burst))
            }
        }
    }
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(RateLimit::Off);
        }
        let expected = "expected N/s, N/m or N/h (e.g. 50/s), or off";
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: {expected}"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: the count is not a whole number; {expected}"))?;
        let count = NonZeroU32::new(count).ok_or_else(|| {
            format!("`{text}`: the count must be at least 1 (use `off` for no limit)")
        })?;
        if count.get() > MAX_RATE_COUNT {
            return Err(format!(
                "`{text}`: at most {MAX_RATE_COUNT} per period (use `off` for no limit)"
            ));
        }
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("`{text}`: unknown period `{other}`; {expected}")),
        };
        Ok(RateLimit::Every { count, period })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimit::Off => f.write_str("off"),
            RateLimit::Every { count, period } => {
                let unit = match period.as_secs() {
                    1 => "s",
                    60 => "m",
                    _ => "h",
                };
                write!(f, "{count}/{unit}")
            }
        }
    }
}

/// The key a client address is limited by: the address itself for IPv4, its /64 network for
/// IPv6 (one host usually holds a whole /64, so single addresses would cost it nothing).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
    }
}

/// The client address of a request, as the listener recorded it (unspecified when the app
/// runs without one, e.g. in-process).
pub fn client_of(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
            client_key(c.0.ip())
        })
}

/// One budget per key.
struct Budgets<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Budgets<K> {
    /// Budgets with `quota`, pruned every [`PRUNE_EVERY`] while they exist.
    fn new(quota: Quota) -> Arc<Self> {
        let budgets = Arc::new(Budgets {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        });
        let weak: Weak<Self> = Arc::downgrade(&budgets);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PRUNE_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(budgets) = weak.upgrade() else { break };
                budgets.limiter.retain_recent();
                budgets.limiter.shrink_to_fit();
            }
        });
        budgets
    }

    /// `None` when `key` may go on; else how long until it may.
    fn check(&self, key: &K) -> Option<Duration> {
        self.limiter
            .check_key(key)
            .err()
            .map(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// How many keys hold state (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// The rate limits of `/mcp`.
#[derive(Clone, Default)]
pub struct RateLimits {
    per_principal: Option<Arc<Budgets<Principal>>>,
    auth_failures: Option<Arc<Budgets<IpAddr>>>,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_principal", &self.per_principal.is_some())
            .field("auth_failures", &self.auth_failures.is_some())
            .finish()
    }
}

impl RateLimits {
    /// Limits with these quotas (`None`: no limit). Spawns the pruning tasks, so it must run
    /// inside a tokio runtime.
    pub fn new(per_principal: Option<Quota>, auth_failures: Option<Quota>) -> RateLimits {
        RateLimits {
            per_principal: per_principal.map(Budgets::new),
            auth_failures: auth_failures.map(Budgets::new),
        }
    }
}

/// `429 Too Many Requests` with `Retry-After`: `wait` in whole seconds, rounded up, at least 1.
pub fn too_many_requests(wait: Duration, what: &str) -> Response {
    let seconds = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, seconds.to_string())],
        format!("{what}: retry after {seconds} s\n"),
    )
        .into_response()
}

/// Inside authentication: spends one unit of the caller's budget; the refusal (429) when it
/// is spent.
pub fn check_principal(limits: &RateLimits, request: &Request) -> Option<Response> {
    if let Some(budgets) = &limits.per_principal
        && let Some(principal) = request.extensions().get::<Principal>()
        && let Some(wait) = budgets.check(principal)
    {
        tracing::info!(
            retry_after_ms = wait.as_millis() as u64,
            "request refused: the caller's rate limit is spent"
        );
        return Some(too_many_requests(wait, "rate limit exceeded"));
    }
    None
}

/// Around authentication: a request that authentication refuses with 401 spends one unit of
/// its client address's failure budget (`client`, taken with [`client_of`] before
/// authentication); when that is spent, the answer is 429 instead. A request that
/// authenticates is never refused here, so a misbehaving client cannot lock out others
/// behind the same address (a proxy, a NAT).
pub fn after_auth_refusal(limits: &RateLimits, client: IpAddr, refusal: Response) -> Response {
    let Some(budgets) = &limits.auth_failures else {
        return refusal;
    };
    if refusal.status() != StatusCode::UNAUTHORIZED {
        return refusal;
    }
    match budgets.check(&client) {
        None => refusal,
        Some(wait) => {
            tracing::info!(
                retry_after_ms = wait.as_millis() as u64,
                "request refused: too many failed authentications from its address"
            );
            too_many_requests(
                wait,
                "too many failed authentication attempts from this address",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rates_parse_and_print() {
        for (text, shown) in [
            ("50/s", "50/s"),
            ("3000/m", "3000/m"),
            ("7/h", "7/h"),
            (" 10 / second ", "10/s"),
            ("OFF", "off"),
        ] {
            assert_eq!(text.parse::<RateLimit>().unwrap().to_string(), shown);
        }
        for (text, says) in [
            ("0/s", "at least 1"),
            ("50", "expected N/s"),
            ("x/s", "not a whole number"),
            ("5/d", "unknown period `d`"),
            ("-1/s", "not a whole number"),
            ("1000001/s", "at most 1000000"),
        ] {
            let e = text.parse::<RateLimit>().unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_quota_replenishes_at_the_rate_and_holds_the_burst() {
        let quota = "50/s"
            .parse::<RateLimit>()
            .unwrap()
            .quota(NonZeroU32::new(100).unwrap())
            .unwrap();
        assert_eq!(quota.replenish_interval(), Duration::from_millis(20));
        assert_eq!(quota.burst_size().get(), 100);
        assert!(RateLimit::Off.quota(NonZeroU32::MIN).is_none());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait, expected) in [
            (Duration::ZERO, "1"),
            (Duration::from_millis(1), "1"),
            (Duration::from_millis(1000), "1"),
            (Duration::from_millis(1001), "2"),
            (Duration::from_secs(59), "59"),
        ] {
            let r = too_many_requests(wait, "x");
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers()[RETRY_AFTER], expected, "{wait:?}");
        }
    }

    #[tokio::test]
    async fn budgets_are_per_key_and_pruned_when_full_again() {
        // 1 per 10 ms, burst 2.
        let quota = Quota::with_period(Duration::from_millis(10))
            .unwrap()
            .allow_burst(NonZeroU32::new(2).unwrap());
        let budgets = Budgets::<u32>::new(quota);
        assert!(budgets.check(&1).is_none());
        assert!(budgets.check(&1).is_none());
        let wait = budgets.check(&1).expect("the burst is spent");
        assert!(wait <= Duration::from_millis(10), "{wait:?}");
        // Another key is untouched.
        assert!(budgets.check(&2).is_none());
        for key in 100..1100 {
            budgets.check(&key);
        }
        assert!(budgets.len() >= 1000);
        // Once every budget is full again, pruning drops them all.
        tokio::time::sleep(Duration::from_millis(50)).await;
        budgets.limiter.retain_recent();
        assert_eq!(budgets.len(), 0);
    }
}
