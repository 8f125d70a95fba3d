"""Address policy: a crawler fed untrusted links must not reach the machine's own network.

Every request resolves its host first and refuses the whole host when *any* address it resolves to
is loopback, private, link-local (169.254.169.254 is the cloud metadata service), unspecified,
multicast, reserved or otherwise not globally routable, including IPv4 addresses hidden inside
IPv6 (IPv4-mapped, 6to4, Teredo, NAT64). The check runs after DNS resolution, so a public-looking
name that resolves to 127.0.0.1 is refused like the literal, and it runs again on every redirect hop.

The client then connects to exactly the addresses checked here (`resolve`), never resolving the
name a second time, which closes the DNS-rebinding gap (a name answering a public address to the
check and a private one to the connection). For https the TLS handshake still uses the host name
(SNI and certificate checks), only the TCP connection is pinned. Proxies from the environment are
not used: a proxy would make the checked address meaningless.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SockAddr = tuple[int, tuple]  # (address family, sockaddr) ready for socket.connect
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(Exception):
    """The host resolves to an address the policy refuses; the message says which and why."""


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be crawled without `--allow-private` (e.g. "loopback"), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and (reason := refusal_reason(embedded)):
            return f"{reason} (IPv4 inside IPv6)"
    checks = (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("unspecified", ip.is_unspecified),
              ("multicast", ip.is_multicast), ("private", ip.is_private), ("reserved", ip.is_reserved),
              ("non-public", not ip.is_global))
    return next((name for name, hit in checks if hit), None)


def resolve(host: str, port: int, allow_private: bool) -> list[SockAddr]:
    """The addresses to connect to for `host`, after the policy check. Raises AddressRefused when a
    refused address is among them (unless `allow_private`), OSError when the name does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addrs: list[SockAddr] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if (family, sockaddr) in addrs:
            continue
        if not allow_private:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if reason := refusal_reason(ip):
                shown = host if host == str(ip) else f"{host} ({ip})"
                raise AddressRefused(f"{shown} is a {reason} address; refused without --allow-private")
        addrs.append((family, sockaddr))
    if not addrs:
        raise OSError(f"no address for {host}")
    return addrs


def check_host(host: str, port: int, allow_private: bool) -> None:
    """Raise AddressRefused if the policy refuses `host` (OSError if it does not resolve)."""
    resolve(host, port, allow_private)
