"""The outbound address policy: which addresses count as public, in every spelling."""

import ipaddress

import pytest

from shared.runtime.addresses import first_refused, is_public, refused_literal


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_loopback_private_link_local_and_their_embedded_forms_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_pass(address):
    assert is_public(ipaddress.ip_address(address))


def test_the_first_refused_address_is_named():
    assert first_refused(["8.8.8.8", "fe80::1%eth0", "10.0.0.1"]) == "fe80::1%eth0"
    assert first_refused(["8.8.8.8"]) is None


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::ffff:127.0.0.1]:8080/userinfo", "::ffff:7f00:1"),
        ("https://idp.example/userinfo", None),  # a name is judged when called, by its address
        ("https://8.8.8.8/x", None),
    ],
)
def test_a_literal_address_in_a_url_is_judged_at_registration(url, refused):
    assert refused_literal(url) == refused
