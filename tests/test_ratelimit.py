"""Rate limiting logic: token bucket refill, client identity and X-Forwarded-For trust."""

from __future__ import annotations

from rivetr_core.ratelimit import TokenBucketLimiter, client_address, parse_networks


def test_bucket_allows_burst_then_refills() -> None:
    limiter = TokenBucketLimiter(rate_per_minute=60, burst=2)
    assert limiter.hit("a", now=0) == 0
    assert limiter.hit("a", now=0) == 0
    assert limiter.hit("a", now=0) > 0  # burst spent
    assert limiter.hit("b", now=0) == 0  # other clients unaffected
    assert limiter.hit("a", now=1.01) == 0  # one token per second


def test_forwarded_for_only_from_trusted_peers() -> None:
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address("203.0.113.9", "1.2.3.4", trusted) == "203.0.113.9"  # spoof attempt ignored
    assert client_address("10.0.0.2", "1.2.3.4", trusted) == "1.2.3.4"
    # The right-most untrusted hop is the client; what it prepended is not believed.
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7", trusted) == "1.2.3.4"


def test_eviction_keeps_memory_bounded() -> None:
    limiter = TokenBucketLimiter(rate_per_minute=60, burst=1, max_clients=100)
    for i in range(1000):
        limiter.hit(f"client-{i}", now=i)
    assert len(limiter._buckets) <= 100
