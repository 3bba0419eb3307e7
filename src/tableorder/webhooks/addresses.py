"""Where a webhook may be sent: http(s) URLs whose host resolves to public addresses only.

A webhook URL is chosen by whoever holds a staff login or key, and the service sends requests to it
from inside the deployment: without a check it would reach the database, the metadata service of
the cloud or anything else on the private network (server-side request forgery). So a URL whose
host resolves to a loopback, private, link-local, unspecified, multicast or reserved address (IPv4
or IPv6, including IPv4 inside IPv6) is refused when it is set and again before every request,
since DNS answers change. The request then goes to the very address that was checked (the host
name stays in `Host` and in TLS's SNI and certificate check), so a second, different DNS answer
cannot slip in between check and connect. WEBHOOK_ALLOW_PRIVATE=true lifts the address rule
(development and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_TIMEOUT = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """The URL may not be a webhook's: the message says why, for the person who set it."""


class Unresolvable(UrlRefused):
    """The URL's host has no address now (a name not yet published, a resolver that is away): not
    sent to this time, but not known to be private either, so a URL like it may be set."""


@dataclass(frozen=True)
class Target:
    """A request's destination: the URL with its host replaced by the checked address."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)  # Host: the name the URL gave
    extensions: dict[str, str] = field(default_factory=dict)  # sni_hostname for https


def check_form(url: str) -> SplitResult:
    """The URL's own shape: http or https, a host, no credentials, no white space."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRefused("The URL must not contain white space or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise UrlRefused(f"The URL is not valid: {exc}.") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise UrlRefused("The URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise UrlRefused("The URL must not contain a user name or password; the signature authenticates us.")
    if not parts.hostname:
        raise UrlRefused("The URL must name a host.")
    return parts


def why_not_public(address: IPAddress) -> str | None:
    """None for a public address, else the kind of address it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = why_not_public(embedded)
            if reason is not None:
                return reason
        # fec0::/10, deprecated but still routed inside some older private networks; Python 3.11 counts
        # it neither private nor reserved.
        if address.is_site_local:
            return "site-local"
    for reason, flagged in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                            ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                            ("reserved", address.is_reserved), ("private", address.is_private)):
        if flagged:
            return reason
    return None if address.is_global else "non-public"


async def _addresses(host: str, port: int) -> list[IPAddress]:
    with contextlib.suppress(ValueError):
        return [ipaddress.ip_address(host)]
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise Unresolvable(f"The host {host} could not be resolved.") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))
    if not addresses:
        raise Unresolvable(f"The host {host} could not be resolved.")
    return addresses


async def check(url: str, *, allow_private: bool) -> None:
    """For setting a URL: raises UrlRefused when it may not be used; a host that does not resolve now
    may be set (each delivery checks again, and says so while it does not resolve)."""
    with contextlib.suppress(Unresolvable):
        await resolve(url, allow_private=allow_private)


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Checks `url` and resolves its host for a request; raises UrlRefused when it may not be used."""
    parts = check_form(url)
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            reason = why_not_public(address)
            if reason is not None:
                raise UrlRefused(f"The host {host} resolves to {address}, a {reason} address; webhooks go to "
                                 "public addresses only (WEBHOOK_ALLOW_PRIVATE).")
    given = httpx.URL(url)
    pinned = given.copy_with(host=str(addresses[0]).partition("%")[0])
    return Target(url=pinned, headers={"Host": given.netloc.decode("ascii")},
                  extensions={"sni_hostname": given.host} if https else {})
