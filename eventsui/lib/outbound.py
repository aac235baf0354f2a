"""The one guard of outbound requests (server-side request forgery): every URL the server is
asked to call on a user's behalf (webhook blocks, notification targets) goes through here, when
it is saved and again when it is sent, after every redirect.

Refused: any scheme but http and https, and any host that is, or resolves to, a loopback,
private, link-local (the cloud metadata service, 169.254.169.254, is one), unique-local,
multicast, reserved or unspecified address, unless `OUTBOUND_ALLOWED_NETWORKS` (CIDRs) names
it. Every address a name resolves to is checked: a name with one public and one private
address is refused. The request itself then connects to the name again; a resolver that
answers differently the second time (DNS rebinding) is the one gap a pinned connection would
close, noted here rather than hidden.

`send()` is the only way a webhook is called: redirects are followed by hand (at most
MAX_REDIRECTS), each new location checked before it is requested.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httpx
from django.conf import settings

MAX_REDIRECTS = 5
# At most this much of an answer is read (its start is recorded; a target cannot make a
# worker hold a body of any size in memory).
MAX_RESPONSE_BYTES = 64 * 1024
# Not sent on to another origin when a redirect leads there (httpx's and browsers' rule).
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}
ALLOWED_SCHEMES = ("http", "https")
# The metadata services of the large clouds, refused even if a network that holds them is
# allowed by mistake (AWS/GCP/Azure/OpenStack: 169.254.169.254; AWS IPv6; Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class OutboundRefused(Exception):
    """The URL may not be called. `reason` says why, in words for the form and the history."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@lru_cache(maxsize=16)
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(s, strict=False) for s in spec)


def allowed_networks():
    return _networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()))


def address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address may not be called, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(address in network for network in allowed_networks()):
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def resolve(
    host: str, port: int | None = None
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"the host {host!r} does not resolve ({exc})") from None
    return sorted({ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}, key=str)


def check_host(host: str | None, port: int | None = None, *, unresolved_ok: bool = False) -> None:
    """Refuse a host that is, or resolves to, an address outbound requests may not reach.
    With `unresolved_ok` (saving a block), a name that does not resolve now passes: it may
    resolve later, and every send checks it again."""
    if not host:
        raise OutboundRefused("the URL names no host")
    try:
        addresses = resolve(host, port)
    except OutboundRefused:
        if unresolved_ok:
            return
        raise
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise OutboundRefused(
                f"{host} is {problem} ({address}); outbound requests to it are refused "
                "unless OUTBOUND_ALLOWED_NETWORKS allows it"
            )


def check_url(url: str, *, unresolved_ok: bool = False) -> None:
    """The check for a URL: its scheme, then its host. Raises OutboundRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"the URL is not valid ({exc})") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise OutboundRefused(f"only http and https URLs may be called, not {parts.scheme!r}")
    check_host(parts.hostname, port, unresolved_ok=unresolved_ok)


@dataclass
class Sent:
    response: httpx.Response
    url: str  # the URL that answered (after redirects)
    redirects: int


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: str | bytes | None = None,
    json: object = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> Sent:
    """One request, checked before it is sent and before every redirect is followed.

    `timeout` bounds the whole exchange (connect, each read, and the redirects together is
    at most MAX_REDIRECTS + 1 times it). Raises OutboundRefused, or httpx's errors."""
    own = client is None
    client = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        redirects = 0
        headers = dict(headers or {})
        while True:
            check_url(url)
            request = client.build_request(
                method, url, headers=headers, content=content, json=json, timeout=timeout
            )
            response = client.send(request, stream=True)
            try:
                body = _read_capped(response)
            finally:
                response.close()
            if not response.is_redirect or redirects >= MAX_REDIRECTS:
                # The body is decoded already: the new response must not decode it again.
                kept = [
                    (k, v)
                    for k, v in response.headers.multi_items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
                ]
                answer = httpx.Response(
                    response.status_code, headers=kept, content=body, request=request
                )
                return Sent(answer, url, redirects)
            location = response.headers.get("location", "")
            target = response.url.join(location)
            if (target.scheme, target.host, target.port) != (
                response.url.scheme,
                response.url.host,
                response.url.port,
            ):
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            url = str(target)
            redirects += 1
            if response.status_code in (301, 302, 303) and method != "HEAD":
                # Browsers' (and httpx's) rule: these turn into a GET without a body.
                method, content, json = "GET", None, None
    finally:
        if own:
            client.close()


def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= MAX_RESPONSE_BYTES:
            return bytes(body[:MAX_RESPONSE_BYTES])
    return bytes(body)


# Apprise services whose host is the user's choice (the others talk to a fixed cloud API,
# e.g. slack:// to hooks.slack.com, and their "host" part is a token): the attribute of
# Apprise's plugin that holds the host to check.
SELF_HOSTED_APPRISE = {
    "json": "host",
    "jsons": "host",
    "xml": "host",
    "xmls": "host",
    "form": "host",
    "forms": "host",
    "mailto": "smtp_host",
    "mailtos": "smtp_host",
    "ntfy": "host",
    "ntfys": "host",
    "gotify": "host",
    "gotifys": "host",
    "apprise": "host",
    "apprises": "host",
    "matrix": "host",
    "matrixs": "host",
    "mmost": "host",
    "mmosts": "host",
    "rocket": "host",
    "rockets": "host",
}


def parse_apprise_url(url: str, *, unresolved_ok: bool = False):
    """Apprise's plugin for `url` (Prefect's notification blocks use Apprise too); raises
    OutboundRefused when Apprise does not understand it or its host may not be reached
    (`unresolved_ok` as for `check_url`)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise OutboundRefused(
            "Apprise does not understand this URL (see Apprise's list of services, e.g. "
            "mailto://, slack://, msteams://, discord://, ntfy://, json://)"
        )
    scheme = urlsplit(url).scheme.lower()
    attribute = SELF_HOSTED_APPRISE.get(scheme)
    if attribute:
        host = getattr(plugin, attribute, None) or getattr(plugin, "host", None)
        # ntfy://topic (no host of its own) talks to ntfy.sh.
        if not (scheme.startswith("ntfy") and getattr(plugin, "mode", "") == "cloud"):
            check_host(host, getattr(plugin, "port", None), unresolved_ok=unresolved_ok)
        # Apprise cannot let us check a redirect's target, so it follows none (its
        # `redirect=no`): a checked host cannot hand the request on to an unchecked one.
        plugin.redirects = False
    return plugin
