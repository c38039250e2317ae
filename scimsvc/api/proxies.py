"""SCIMSVC_TRUSTED_PROXIES: believe X-Forwarded-* only when the direct peer is a trusted proxy.

The client's address is what the rate limit for refused requests counts and what the
journal records, so a client that reaches the port directly must not choose it:

- a list of addresses and networks (``10.0.0.5,10.1.0.0/16``): when the peer
  (REMOTE_ADDR) is one of them, the client is the right-most address of
  ``X-Forwarded-For`` that is not (what the client itself put in front is ignored),
  and the scheme, host and port are the last ``X-Forwarded-Proto``/``-Host``/``-Port``
  (the nearest proxy's);
- a number N (the older form, for proxies on this host): werkzeug's ``ProxyFix``
  with N hops, applied only when the peer is a loopback address;
- 0, the default: no forwarded header is believed.

From any other peer the headers are ignored and the peer is the client.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.5 is 10.0.0.5
    return mapped or address


class TrustedProxies:
    """WSGI middleware applying SCIMSVC_TRUSTED_PROXIES (a count, or networks) to each request."""

    def __init__(self, app: Any, setting: int | Iterable[str]):
        self.app = app
        if isinstance(setting, int):
            self.networks = LOOPBACK
            self.hops: int | None = setting
            self.fix = ProxyFix(app, x_for=setting, x_proto=setting, x_host=setting,
                                x_port=setting)
        else:
            self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in setting)
            self.hops = None
            # REMOTE_ADDR is set here; ProxyFix only takes the nearest proxy's scheme and host.
            self.fix = ProxyFix(app, x_for=0, x_proto=1, x_host=1, x_port=1)

    def trusted(self, text: str | None) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded: str) -> str:
        """The right-most address of ``forwarded`` that is not a trusted proxy's (``peer`` is)."""
        client = peer
        for value in reversed([v.strip() for v in forwarded.split(",") if v.strip()]):
            address = _address(value)
            if address is None:
                break  # not an address: nothing to the left of it can be believed either
            client = str(address)
            if not self.trusted(client):
                break
        return client

    def __call__(self, environ: dict[str, Any], start_response: Any):
        peer = environ.get("REMOTE_ADDR")
        if not self.trusted(peer):
            return self.app(environ, start_response)
        if self.hops is None:
            environ["REMOTE_ADDR"] = self.client(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
        return self.fix(environ, start_response)
