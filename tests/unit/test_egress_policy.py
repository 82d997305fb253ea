"""The egress policy's rules: which addresses a tenant-chosen URL may reach, and OUTBOUND_ALLOW."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from portal.net import egress
from portal.net.egress import EgressRefused, OutboundAllow, check, parse_outbound_allow, refusal_rule

NOTHING_ALLOWED = OutboundAllow()


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback address"),
        ("127.8.9.10", "loopback address"),
        ("::1", "loopback address"),
        ("10.1.2.3", "private address"),
        ("172.16.0.1", "private address"),
        ("172.31.255.255", "private address"),
        ("192.168.1.1", "private address"),
        ("fc00::1", "private address"),
        ("fd12:3456::1", "private address"),
        ("169.254.169.254", "link-local address"),
        ("169.254.0.1", "link-local address"),
        ("fe80::1", "link-local address"),
        ("fe80::1%2", "link-local address"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast address"),
        ("239.255.255.250", "multicast address"),
        ("ff02::1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("0.1.2.3", "unspecified address"),
        ("::", "unspecified address"),
        ("192.0.2.10", "documentation address"),
        ("198.51.100.7", "documentation address"),
        ("203.0.113.9", "documentation address"),
        ("2001:db8::1", "documentation address"),
        ("240.0.0.1", "reserved address"),
        ("255.255.255.255", "reserved address"),
        ("198.18.0.1", "reserved address"),
        # IPv6 spellings of IPv4 addresses: mapped, compatible, translated, NAT64, 6to4.
        ("::ffff:127.0.0.1", "loopback address in IPv6 form"),
        ("::ffff:169.254.169.254", "link-local address in IPv6 form"),
        ("::ffff:a00:1", "private address in IPv6 form"),
        ("::127.0.0.1", "loopback address in IPv6 form"),
        ("::ffff:0:10.0.0.1", "private address in IPv6 form"),
        ("64:ff9b::a9fe:a9fe", "link-local address in IPv6 form"),
        ("2002:7f00:1::", "loopback address in IPv6 form"),
    ],
)
def test_internal_addresses_are_refused(address, rule):
    assert rule in (refusal_rule(ipaddress.ip_address(address)) or "")
    with pytest.raises(EgressRefused) as info:
        check(NOTHING_ALLOWED, "internal.example", [address])
    assert rule in str(info.value)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass(address):
    assert refusal_rule(ipaddress.ip_address(address)) is None
    check(NOTHING_ALLOWED, "public.example", [address])


def test_one_internal_address_among_public_ones_refuses_the_host():
    with pytest.raises(EgressRefused) as info:
        check(NOTHING_ALLOWED, "mixed.example", ["8.8.8.8", "169.254.169.254", "1.1.1.1"])
    assert info.value.address == "169.254.169.254"


def test_the_refusal_names_host_address_rule_and_fix():
    with pytest.raises(EgressRefused) as info:
        check(NOTHING_ALLOWED, "metadata.example", ["169.254.169.254"])
    message = str(info.value)
    assert "metadata.example (169.254.169.254)" in message
    assert "link-local address" in message
    assert "add it to OUTBOUND_ALLOW" in message
    assert isinstance(info.value, httpx.HTTPError)  # existing `except httpx.HTTPError` paths see it


def test_an_ip_literal_host_is_named_once():
    with pytest.raises(EgressRefused) as info:
        check(NOTHING_ALLOWED, "127.0.0.1", ["127.0.0.1"])
    assert str(info.value).startswith("refused to connect to 127.0.0.1: a loopback address")


def test_outbound_allow_cidrs_and_single_addresses():
    allow, problems = parse_outbound_allow(" 10.0.0.0/8, 127.0.0.1 ,::1,, fd00::/8 ")
    assert problems == []
    check(allow, "vllm.internal", ["10.20.30.40"])
    check(allow, "localhost", ["127.0.0.1", "::1"])
    check(allow, "v6.internal", ["fd00::5"])
    check(allow, "mapped", ["::ffff:127.0.0.1"])  # the same address, spelled in IPv6
    with pytest.raises(EgressRefused, match="loopback"):
        check(allow, "other-loopback", ["127.0.0.2"])
    with pytest.raises(EgressRefused, match="private"):
        check(allow, "other-private", ["192.168.0.1"])


def test_an_ipv4_range_never_matches_ipv6_addresses_by_their_low_bits():
    allow, _ = parse_outbound_allow("127.0.0.1")
    with pytest.raises(EgressRefused, match="documentation"):
        check(allow, "sneaky", ["2001:db8::7f00:1"])


def test_outbound_allow_host_names_are_exact_and_case_insensitive():
    allow, problems = parse_outbound_allow("VLLM.internal")
    assert problems == []
    check(allow, "vllm.internal", ["10.0.0.5"])
    check(allow, "Vllm.Internal.", ["127.0.0.1"])  # whatever it resolves to
    with pytest.raises(EgressRefused):
        check(allow, "api.vllm.internal", ["10.0.0.5"])
    with pytest.raises(EgressRefused):
        check(allow, "internal", ["10.0.0.5"])
    compose, _ = parse_outbound_allow("vllm_server")  # container service names may have "_"
    check(compose, "vllm_server", ["172.18.0.3"])


BAD_ENTRIES = ["10.0.0.1/8", "*.internal", "vllm:8000", "http://vllm.internal", "300.1.1.1"]


@pytest.mark.parametrize("entry", BAD_ENTRIES)
def test_bad_outbound_allow_entries_are_named(entry):
    _, problems = parse_outbound_allow(f"127.0.0.1,{entry}")
    assert len(problems) == 1
    assert repr(entry) in problems[0]
    assert problems[0].startswith("OUTBOUND_ALLOW: ")
    assert "10.0.0.0/8" in problems[0]  # the examples of what is accepted


async def test_a_literal_address_is_refused_before_any_lookup_or_connection(monkeypatch):
    async def no_lookup(host, port):
        raise AssertionError("an IP literal needs no lookup")

    monkeypatch.setattr(egress, "resolve", no_lookup)
    async with egress.egress_client(NOTHING_ALLOWED) as client:
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://[::1]/",
        ):
            with pytest.raises(EgressRefused):
                await client.get(url)


async def test_proxy_settings_in_the_environment_do_not_bypass_the_policy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://203.0.113.1:3128")
    async with egress.egress_client(NOTHING_ALLOWED) as client:
        with pytest.raises(EgressRefused, match="link-local"):
            await client.get("http://169.254.169.254/")


async def test_a_host_name_is_resolved_and_every_address_checked(monkeypatch):
    async def resolver(host, port):
        return ["93.184.216.34", "10.0.0.7"]

    monkeypatch.setattr(egress, "resolve", resolver)
    async with egress.egress_client(NOTHING_ALLOWED) as client:
        with pytest.raises(EgressRefused) as info:
            await client.get("https://two-faced.example/v1/models")
    assert "two-faced.example (10.0.0.7)" in str(info.value)
