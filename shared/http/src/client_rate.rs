//! local-api's limit on how often one client may write (book, cancel, join the queue): a bot
//! behind one address cannot take the queue's places or the booking path's capacity from
//! everyone else. GCRA per client IP (governor), checked before the request reaches a handler;
//! past it, 429 with `Retry-After`. In AWS the WAF's rate-based rule does this at the edge.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};

use crate::ApiError;
use crate::server_settings::ClientRate;

pub struct ClientLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trusted_proxy_hops: usize,
}

impl ClientLimit {
    /// None when the limit is off (`CLIENT_WRITES_PER_MINUTE=0`).
    pub fn new(rate: ClientRate) -> Option<Self> {
        let per_minute = NonZeroU32::new(rate.writes_per_minute)?;
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            trusted_proxy_hops: rate.trusted_proxy_hops as usize,
        })
    }

    /// The client a request comes from: the peer, or behind trusted proxies the address the
    /// last of them saw (`X-Forwarded-For` is appended to by each hop, so entries further
    /// left are whatever the client chose to send).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.trusted_proxy_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        forwarded
            .len()
            .checked_sub(self.trusted_proxy_hops)
            .and_then(|at| forwarded.get(at))
            .and_then(|address| address.parse().ok())
            .unwrap_or(peer)
    }

    /// None when `method` from `client` may go on; otherwise the 429 to answer.
    pub fn check(&self, method: &Method, client: IpAddr) -> Option<Response<Body>> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        let not_until = self.limiter.check_key(&client).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Some(too_many_writes(wait))
    }

    /// Forgets clients whose allowance is full again, so the map holds only recent writers.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn too_many_writes(wait: Duration) -> Response<Body> {
    booking_core::service_metrics::request_shed();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "Too many requests from this address; retry after the Retry-After seconds.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32, burst: u32, hops: u32) -> ClientLimit {
        ClientLimit::new(ClientRate {
            writes_per_minute: per_minute,
            burst,
            trusted_proxy_hops: hops,
        })
        .unwrap()
    }

    #[test]
    fn a_client_past_its_burst_waits_while_others_and_reads_go_on() {
        let limit = limit(60, 3, 0);
        let bot: IpAddr = "203.0.113.7".parse().unwrap();
        let person: IpAddr = "198.51.100.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.check(&Method::POST, bot).is_none());
        }
        let refused = limit.check(&Method::POST, bot).expect("past the burst");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "one write a second: {wait}");
        assert!(
            limit.check(&Method::GET, bot).is_none(),
            "reads are not limited"
        );
        assert!(
            limit.check(&Method::POST, person).is_none(),
            "another client is not"
        );
    }

    #[test]
    fn off_at_zero() {
        assert!(
            ClientLimit::new(ClientRate {
                writes_per_minute: 0,
                burst: 1,
                trusted_proxy_hops: 0
            })
            .is_none()
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_what_the_last_of_them_saw() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        // The client forged the first entry; the load balancer appended the real address.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 198.51.100.9"),
        );
        assert_eq!(
            limit(1, 1, 1).client(peer, &headers),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limit(1, 1, 0).client(peer, &headers),
            peer,
            "no trusted proxy: the peer"
        );
        assert_eq!(
            limit(1, 1, 3).client(peer, &headers),
            peer,
            "fewer hops than trusted"
        );
    }
}
