"""Which redirects the polite client follows: only to http(s) URLs with a host and a port
in 1-65535. A shop's Location header is hostile input like its body."""

from __future__ import annotations

import httpx

from runner.core.errors import UnfollowableRedirect


async def refuse_unfollowable_redirect(response: httpx.Response) -> None:
    """httpx's response hook, before it follows a redirect: only to http(s), a host, a port
    in 1-65535. httpx refuses some targets itself, but a bad port reaches the socket layer
    and fails there as an exception group."""
    if not response.has_redirect_location:
        return
    location = response.headers["Location"]
    try:
        url = response.request.url.join(location)
    except httpx.InvalidURL:
        raise UnfollowableRedirect(f"{location[:200]!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host or not 0 < (url.port or 80) < 65536:
        raise UnfollowableRedirect(f"{location[:200]!r}")
