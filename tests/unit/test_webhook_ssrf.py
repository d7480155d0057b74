"""The SSRF guard of webhook URLs, without the network: IP literals and `localhost` only, and a
resolver of the test's own wherever a name would be looked up (so no name ever is)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from invorder.errors import InvalidInput
from invorder.webhooks import ssrf
from invorder.webhooks.ssrf import UnsafeWebhookURL, check_endpoint_url, resolve_delivery_target

# Not a real name (no such top-level domain): only ever given to the resolvers below.
MADE_UP_HOST = "receiver.invorder-tests-nowhere"


async def no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"the guard looked up {host}:{port}")


def resolving_to(*addresses: str) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        assert host == MADE_UP_HOST
        return list(addresses)

    return resolve


def check(url: str, *, allow_private: bool = False, resolver: ssrf.Resolver = no_lookup) -> str:
    return asyncio.run(check_endpoint_url(url, allow_private=allow_private, resolver=resolver))


def target(url: str, *, allow_private: bool = False, resolver: ssrf.Resolver = no_lookup) -> list[str]:
    return asyncio.run(resolve_delivery_target(url, allow_private=allow_private, resolver=resolver))


REFUSED_ADDRESSES = [
    "http://10.0.0.1/hook",
    "http://192.168.1.5/hook",
    "http://172.16.0.1/",
    "http://127.0.0.1:8000/",
    "http://127.255.255.254/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://100.64.0.1/",  # shared address space (CGNAT)
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",  # site-local
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",  # documentation
    "http://[2001:db8::1]/",
    "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[::10.0.0.1]/",  # IPv4-compatible (deprecated, reserved)
]


@pytest.mark.parametrize("url", REFUSED_ADDRESSES)
def test_a_url_whose_ip_is_not_public_is_a_422_on_url_and_is_never_looked_up(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check(url)
    assert [e.field for e in refused.value.errors] == ["url"]
    assert "may not be sent" in refused.value.detail
    with pytest.raises(UnsafeWebhookURL):
        target(url)


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/hook", "https://[2606:4700:4700::1111]:8443/x?y=1", "http://[::ffff:8.8.8.8]/"]
)
def test_a_public_ip_is_accepted_and_is_the_delivery_target(url: str) -> None:
    assert check(url) == url
    assert len(target(url)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST.:8080/",
        "http://api.localhost/",
        "http://receiver/",  # one label: a local name
        "http://svc.internal/",
        "http://printer.local/",
        "http://router.home.arpa/",
    ],
)
def test_local_names_are_refused_without_a_lookup(url: str) -> None:
    with pytest.raises(InvalidInput, match="local name"):
        check(url)
    with pytest.raises(UnsafeWebhookURL):
        target(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://93.184.216.34/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://user:secret@93.184.216.34/", "user name or password"),
        ("http://93.184.216.34@127.0.0.1/", "user name or password"),
        ("http:///path", "needs a host"),
        ("http://93.184.216.34:99999/", "not a valid URL"),
        ("http://93.184.216.34:0/", "port 0"),
        ("http://127.1/", "dotted-decimal"),
        ("http://2130706433/", "dotted-decimal"),
        ("http://0x7f000001/", "dotted-decimal"),
        ("http://017700000001/", "dotted-decimal"),
        ("http://01.2.3.4/", "dotted-decimal"),
        ("http://[1.2.3.4]/", "not a valid URL"),
        ("http://[v1.fe]/", "not an IPv6 address"),
        ("http://[::1/", "not a valid URL"),
        ("http://a b/", "printable ASCII"),
        ("http://93.184.216.34/\n", "printable ASCII"),
        ("http://bücher.example/", "printable ASCII"),
        ("http://under_score-.x/", "not a valid host name"),
        ("http://a\\b.x/", "not a valid host name"),
        ("http://" + "a" * 64 + ".x/", "not a valid host name"),
        ("http://93.184.216.34/" + "a" * 1980, "at most 2000"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_addresses_are_allowed(url: str, says: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidInput, match=says) as refused:
            check(url, allow_private=allow_private)
        assert refused.value.errors[0].field == "url"
        with pytest.raises(UnsafeWebhookURL, match=says):
            target(url, allow_private=allow_private)


def test_a_url_of_2000_characters_is_accepted() -> None:
    url = "http://93.184.216.34/" + "a" * (2000 - len("http://93.184.216.34/"))
    assert len(url) == 2000 and check(url) == url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "http://localhost:8080/", "http://[::1]/", "http://10.0.0.1/", "http://receiver/"],
)
def test_with_private_addresses_allowed_only_the_form_is_checked_and_nothing_is_looked_up(url: str) -> None:
    assert check(url, allow_private=True) == url


def test_with_private_addresses_allowed_a_delivery_goes_to_loopback_without_a_lookup() -> None:
    assert target("http://127.0.0.1:9/hook", allow_private=True) == ["127.0.0.1"]
    assert target("http://[::1]:9/hook", allow_private=True) == ["::1"]
    assert target("http://localhost:9/hook", allow_private=True) == ["127.0.0.1", "::1"]
    assert target("http://hooks.localhost/", allow_private=True) == ["127.0.0.1", "::1"]


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    url = f"https://{MADE_UP_HOST}/hook"
    mixed = resolving_to("93.184.216.34", "10.0.0.1")
    with pytest.raises(InvalidInput, match=r"resolves to 10\.0\.0\.1, a private address"):
        check(url, resolver=mixed)
    with pytest.raises(UnsafeWebhookURL, match=r"10\.0\.0\.1"):
        target(url, resolver=mixed)
    metadata = resolving_to("2606:4700:4700::1111", "169.254.169.254")
    with pytest.raises(UnsafeWebhookURL, match="metadata"):
        target(url, resolver=metadata)
    # With private addresses allowed, whatever it resolves to is the target.
    assert target(url, allow_private=True, resolver=mixed) == ["93.184.216.34", "10.0.0.1"]


def test_a_name_whose_addresses_are_all_public_is_accepted_and_they_are_the_target() -> None:
    url = f"https://{MADE_UP_HOST}:8443/hook"
    public = resolving_to("93.184.216.34", "2606:4700:4700::1111", "93.184.216.34")
    assert check(url, resolver=public) == url
    assert target(url, resolver=public) == ["93.184.216.34", "2606:4700:4700::1111"]


def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://{MADE_UP_HOST}/"

    async def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return ["93.184.216.34"]

    with pytest.raises(InvalidInput, match="does not resolve"):
        check(url, resolver=unknown)
    with pytest.raises(UnsafeWebhookURL, match="does not resolve"):
        target(url, resolver=resolving_to())
    monkeypatch.setattr(ssrf, "RESOLVE_TIMEOUT_S", 0.05)
    with pytest.raises(UnsafeWebhookURL, match="did not resolve within"):
        target(url, resolver=slow)


def test_refusals_name_the_host_but_never_the_rest_of_the_url() -> None:
    with pytest.raises(InvalidInput) as refused:
        check("http://10.0.0.1/hook?token=s3cr3t")
    assert "s3cr3t" not in refused.value.detail and "10.0.0.1" in refused.value.detail
