"""Which addresses a webhook may go to: public ones, and what the allow-list names."""

import ipaddress

import pytest

from fieldsvc.webhooks.addresses import AddressRefused, AllowList, check_url, is_public

NOTHING_ALLOWED = AllowList.parse("")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd12:3456::1",  # IPv6 unique local
        "ff02::1",
        "::ffff:8.8.8.8",  # IPv4-mapped: refused whatever it wraps
        "2002:a00:1::1",  # 6to4 around 10.0.0.1
    ],
)
def test_internal_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111"])
def test_internet_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


def test_the_target_is_the_checked_address_with_the_host_asked_for_by_name():
    target = check_url("https://93.184.215.14:8443/in?x=1", NOTHING_ALLOWED)

    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "93.184.215.14",
        8443,
        "/in?x=1",
        "93.184.215.14",
    )


def test_the_allow_list_names_hosts_and_networks():
    allow = AllowList.parse("hooks.internal, 10.8.0.0/16 127.0.0.1")

    assert check_url("http://10.8.3.4/in", allow).address == "10.8.3.4"
    assert check_url("http://127.0.0.1:9000/in", allow).port == 9000
    with pytest.raises(AddressRefused, match="private, loopback"):
        check_url("https://10.9.0.1/in", allow)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/in", "must start with https://"),
        ("https://user:pw@93.184.215.14/in", "Leave the user name and password out"),
        ("https://93.184.215.14:99999/in", "port"),
        ("https:///in", "no host name"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(AddressRefused, match=reason):
        check_url(url, NOTHING_ALLOWED)


def test_a_bad_network_in_the_allow_list_is_a_configuration_error():
    with pytest.raises(ValueError):
        AllowList.parse("10.0.0.0/33")
