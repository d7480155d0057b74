"""The SSRF guard of webhooks: which endpoint URLs may be saved, and which addresses a delivery may
connect to (the rules in words: docs/events.md, "Subscribing")."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from invorder.errors import FieldError, InvalidInput

MAX_URL_LENGTH = 2000
# http(s), then printable ASCII without spaces: an international host name is given in its
# xn-- form, other text percent-encoded, and no parser can read a control character otherwise.
_URL_SHAPE = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[!-~]+")
SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host name resolves to. The system's resolver unless a
# caller (a test) gives its own.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services. Each is in a range refused anyway (link-local, unique local,
# shared address space); named so that no change of those rules lets one through.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
# NAT64 (RFC 6052): on a network with a NAT64 gateway 64:ff9b::a00:1 reaches 10.0.0.1.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Names that never lead to the public internet: localhost (RFC 6761, always the machine
# itself), mDNS, names private networks use, and the special-use and reserved top-level names.
_LOCAL_SUFFIXES = (
    "localhost",
    "localdomain",
    "local",
    "internal",
    "intranet",
    "lan",
    "home.arpa",
    "test",
    "invalid",
    "example",
    "onion",
    "alt",
)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# A host whose last label is a number is an IPv4 address to URL parsers and to the system's
# resolver (`127.1`, `2130706433`, `0x7f.1`): only the dotted-decimal form is taken.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class UnsafeWebhookURL(Exception):
    """A webhook URL that may not be connected to; the message says why (and names the host,
    never the rest of the URL, which may hold a token)."""


@dataclass(frozen=True, slots=True)
class _Target:
    host: str  # lower case, no brackets, no final dot
    port: int
    address: IPAddress | None  # when the host is an IP address


async def check_endpoint_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """`url`, when an endpoint may be saved with it; else a 422 on `url`.

    Always: http or https, a host, no user name or password, at most 2000 printable ASCII
    characters. Unless `allow_private`: a host that is an IP address must be a public one
    (IPv4-mapped IPv6 judged by its IPv4 address), `localhost` and other local names are
    refused, and any other name must resolve, every one of its addresses public."""
    try:
        target = _parse(url)
        if not allow_private:
            await _public_addresses(target, resolver)
    except UnsafeWebhookURL as exc:
        raise InvalidInput(str(exc), [FieldError("url", str(exc))]) from None
    return url


async def resolve_delivery_target(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> list[str]:
    """The addresses a delivery to `url` may connect to (IPv6 ones without brackets), resolved
    now; `UnsafeWebhookURL` when there is none (a refused address among them, a name that does
    not resolve, a URL that could not be saved today).

    Checked at each delivery, not only when the URL was saved: a name that resolved to a public
    address then may point inside the network by now (DNS rebinding). Connect to one of these,
    not to the name: resolving again could answer otherwise. Send the URL's host name as the
    Host header and, for https, as the TLS server name.
    With `allow_private`, whatever the name resolves to (`localhost` is loopback)."""
    target = _parse(url)
    if not allow_private:
        return await _public_addresses(target, resolver)
    if target.address is not None:
        return [str(target.address)]
    if _is_localhost(target.host):
        return ["127.0.0.1", "::1"]  # RFC 6761: never looked up
    return await _resolve(target, resolver)


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to `address` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_refusal(address.ipv4_mapped)
        embedded = [address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        for inner in embedded:
            reason = address_refusal(inner) if inner is not None else None
            if reason is not None:
                return f"{reason} (inside {address})"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"  # shared address space (CGNAT), documentation, benchmarking
    return None


def _parse(url: str) -> _Target:
    """The host and port of `url`, after the checks that need no network."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookURL(f"a webhook URL is at most {MAX_URL_LENGTH} characters")
    if not _URL_SHAPE.fullmatch(url):
        raise UnsafeWebhookURL(
            "a webhook URL is http:// or https:// followed by printable ASCII without spaces"
            " (an international host name in its xn-- form)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES:  # the pattern lets no other through; the check says why
        raise UnsafeWebhookURL("a webhook URL is http:// or https://")
    if "@" in parts.netloc:
        raise UnsafeWebhookURL("a webhook URL may not hold a user name or password")
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        raise UnsafeWebhookURL("a webhook URL needs a host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif port == 0:
        raise UnsafeWebhookURL("port 0 cannot be connected to")
    if parts.netloc.startswith("["):
        try:
            return _Target(host, port, ipaddress.IPv6Address(host))
        except ValueError:
            raise UnsafeWebhookURL(f"{host} is not an IPv6 address") from None
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return _Target(host, port, ipaddress.IPv4Address(host))
        except ValueError:
            raise UnsafeWebhookURL(f"{host} is not an IPv4 address in dotted-decimal form") from None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeWebhookURL(f"{host} is not a valid host name")
    return _Target(host, port, None)


def _is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


async def _public_addresses(target: _Target, resolver: Resolver | None) -> list[str]:
    if target.address is not None:
        reason = address_refusal(target.address)
        if reason is not None:
            raise UnsafeWebhookURL(f"webhooks may not be sent to {target.address}: {reason}")
        return [str(target.address)]
    host = target.host
    if "." not in host or any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        raise UnsafeWebhookURL(f"webhooks may not be sent to {host}: a local name, never a public host")
    addresses = await _resolve(target, resolver)
    for text in addresses:
        try:
            reason = address_refusal(ipaddress.ip_address(text))
        except ValueError:
            reason = "not an IP address"
        if reason is not None:
            raise UnsafeWebhookURL(f"webhooks may not be sent to {host}: it resolves to {text}, {reason}")
    return addresses


async def _resolve(target: _Target, resolver: Resolver | None) -> list[str]:
    """Every address the target's name resolves to, each once; refused when there is none."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            found = await (resolver or system_resolver)(target.host, target.port)
    except TimeoutError:
        raise UnsafeWebhookURL(f"{target.host} did not resolve within {RESOLVE_TIMEOUT_S:g} s") from None
    except (OSError, UnicodeError) as exc:
        raise UnsafeWebhookURL(f"{target.host} does not resolve ({exc})") from None
    if not found:
        raise UnsafeWebhookURL(f"{target.host} does not resolve")
    return list(dict.fromkeys(found))


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host` (the event loop's getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
