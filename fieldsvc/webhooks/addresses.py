"""Where a webhook may be delivered: never to the app's own network unless an operator
says so.

A webhook URL is typed by an admin, but the request comes from the server, inside the
company's network: without this check it could reach a database port, a cloud
metadata service (169.254.169.254) or an internal admin page. The host is resolved and
every address it has must be public, unless FIELDSVC_WEBHOOK_ALLOW names the host or a
network holding the address. Delivery connects to the address that was checked, so a
name that resolves differently a second later (DNS rebinding) gains nothing.
"""

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(Exception):
    """The URL may not be delivered to; the message says why, for an admin."""


@dataclass(frozen=True)
class AllowList:
    """FIELDSVC_WEBHOOK_ALLOW: host names and networks that may be private."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, text: str) -> "AllowList":
        """ "hooks.internal, 10.20.0.0/16, 127.0.0.1"; raises ValueError for a bad network."""
        hosts, networks = set(), []
        for item in text.replace(" ", ",").split(","):
            if not (item := item.strip().lower()):
                continue
            if item[0].isdigit() or ":" in item:
                networks.append(ipaddress.ip_network(item, strict=False))
            else:
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def names_host(self, host: str) -> bool:
        return host in self.hosts

    def names_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, ask for `host` (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, allow: AllowList) -> Target:
    """Resolve the URL's host and refuse it unless every address may be reached; the
    target to connect to. https only, except for a host the allow-list names."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http"):
        raise AddressRefused("The URL must start with https://.")
    if parts.username or parts.password:
        raise AddressRefused("Leave the user name and password out of the URL.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise AddressRefused("The URL's port is not a number from 1 to 65535.") from error
    if not host:
        raise AddressRefused("The URL has no host name.")
    host = host.rstrip(".").lower()
    addresses = resolve(host)
    host_allowed = allow.names_host(host)
    for address in addresses:
        if not host_allowed and not allow.names_address(address) and not is_public(address):
            raise AddressRefused(
                f"{host} is a private, loopback, link-local or otherwise internal address "
                f"({address}); webhooks are delivered only to public addresses unless "
                "FIELDSVC_WEBHOOK_ALLOW names it."
            )
    if parts.scheme == "http" and not (
        host_allowed or all(allow.names_address(a) for a in addresses)
    ):
        raise AddressRefused(
            "The URL must start with https:// (plain http only for a host that "
            "FIELDSVC_WEBHOOK_ALLOW names)."
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, path, str(addresses[0]))


def resolve(host: str) -> list[IPAddress]:
    """Every address the host name has (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise AddressRefused(f"The host name {host} cannot be found ({error}).") from error
    addresses = _unique(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found)
    if not addresses:
        raise AddressRefused(f"The host name {host} has no address.")
    return addresses


def is_public(address: IPAddress) -> bool:
    """Reachable on the internet: not private (which covers IPv6 unique local addresses),
    loopback, link-local, multicast, reserved or unspecified; and not an IPv4 address
    wrapped in IPv6 (mapped, or a 6to4 / Teredo address around a private one)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return False
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))
