"""robots.txt: fetched with the polite client and the shop's gate, read by protego."""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

from runner.acquire.client import PoliteClient, ShopGate
from runner.core.errors import FetchError, RobotsDisallowed
from runner.core.exchange import Recorder


@dataclass(frozen=True)
class RobotsPolicy:
    allowed: bool
    crawl_delay: float | None = None
    reason: str | None = None


def agent_token(user_agent: str) -> str:
    """robots.txt groups match the bare product token: 'coffee-runner/0.1 (+url)' -> 'coffee-runner'."""
    return user_agent.split("/", 1)[0].split()[0].strip().lower()


async def read_robots(client: PoliteClient, gate: ShopGate, base_url: str, record: Recorder,
                      probe_path: str = "/") -> RobotsPolicy:
    """Fetch robots.txt with the same client and decide whether `probe_path` may be fetched."""
    url = f"{base_url}/robots.txt"
    try:
        exchange = await client.fetch(url, gate, record, expect_json=False)
    except FetchError as exc:
        status = exc.status
        if status in (401, 403):
            return RobotsPolicy(False, reason=f"robots.txt answered HTTP {status}: disallow all")
        if status is not None and 400 <= status < 500:
            return RobotsPolicy(True)  # no robots.txt: everything allowed
        return RobotsPolicy(False, reason=f"robots.txt unavailable ({exc}): not crawling")
    text = (exchange.body or b"").decode("utf-8", errors="replace")
    return robots_policy(text, client.user_agent, f"{base_url}{probe_path}")


def robots_policy(text: str, user_agent: str, probe_url: str) -> RobotsPolicy:
    """Our group's rules (else '*'), by protego: wildcards, '$', fractional Crawl-delay,
    longest-match precedence between Allow and Disallow."""
    token = agent_token(user_agent)
    rules = Protego.parse(text)
    if not rules.can_fetch(probe_url, token):
        return RobotsPolicy(False, reason=f"robots.txt disallows {token} from {probe_url}")
    return RobotsPolicy(True, crawl_delay=_crawl_delay(rules, token))


def crawl_delay(text: str, token: str) -> float | None:
    """Crawl-delay (seconds, fractions kept) of our group, else of '*'; None when unset."""
    return _crawl_delay(Protego.parse(text), token)


def _crawl_delay(rules: Protego, token: str) -> float | None:
    delay = rules.crawl_delay(token)
    return None if delay is None else float(delay)


def check_robots(policy: RobotsPolicy) -> None:
    if not policy.allowed:
        raise RobotsDisallowed(policy.reason or "robots.txt disallows us")
