"""The client's address, as every part of the service that locks, limits or logs by address reads it.

Behind the TLS proxy every request's REMOTE_ADDR is the proxy's, so the proxy's header
(CLIENT_IP_HEADER, normally X-Forwarded-For) names the client. The header is believed only when
REMOTE_ADDR is one of TRUSTED_PROXIES: a client talking to gunicorn directly could write any
address into it, and lock out (or evade the lock-out of) whichever address it chose.

X-Forwarded-For is a list that each proxy appends its peer to ("client, proxy1, proxy2"); the
leftmost entries are whatever the client sent. It is read from the right, skipping the trusted
proxies; the first address that is not one of them is the client. An entry that is not an IP
address ends the walk (what lies left of it can't be trusted) and the last trusted hop answers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str], *, variable: str = "TRUSTED_PROXIES") -> tuple[IPNetwork, ...]:
    """Addresses or CIDR networks ("10.0.0.5", "172.16.0.0/12", "::1"); ImproperlyConfigured on a bad one."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{variable}: {text!r} is not an IP address or network (e.g. 10.0.0.5 or 172.16.0.0/12)."
            ) from exc
    return tuple(networks)


def header_meta_key(header: str) -> str:
    """ "X-Forwarded-For" → "HTTP_X_FORWARDED_FOR" (how WSGI puts the header in request.META)."""
    return "HTTP_" + header.strip().upper().replace("-", "_")


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def client_ip(request: Any) -> str:
    """The client's IP address of `request` (a Django HttpRequest), as text; "" when unknown.

    Also django-axes' AXES_CLIENT_IP_CALLABLE, so that lock-outs count per client, not per proxy."""
    proxies: tuple[IPNetwork, ...] = settings.TRUSTED_PROXY_NETWORKS
    remote_text = request.META.get("REMOTE_ADDR", "") or ""
    remote = _address(remote_text)
    if remote is None:
        return remote_text.strip()
    if not proxies or not settings.CLIENT_IP_HEADER or not _trusted(remote, proxies):
        return str(remote)
    header = request.META.get(header_meta_key(settings.CLIENT_IP_HEADER), "") or ""
    client = remote
    for entry in reversed(header.split(",")):
        hop = _address(entry)
        if hop is None:
            break
        client = hop
        if not _trusted(hop, proxies):
            break
    return str(client)
