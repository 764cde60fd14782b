"""RFC 3263 section 4: from a SIP URI to the transport, IP and port to send a request to.

A URI with a numeric host (or ``maddr``) needs no lookup. Otherwise, as the reference server's
stack does:

* a port in the URI: A/AAAA of the host, transport from ``transport=`` (UDP; TLS for sips);
* a ``transport=`` but no port: SRV ``_sip._<proto>.<host>`` (``_sips._tcp`` for TLS), else
  A/AAAA on the default port;
* neither: NAPTR of the host, keeping the services we have a transport for (``SIP+D2U``,
  ``SIP+D2T``, ``SIPS+D2T``), then their SRV names; without NAPTR records, SRV for each of our
  transports in turn (UDP, TCP, TLS); without SRV either, A/AAAA on 5060 (5061 for sips).

NAPTR/SRV/A queries go to the system's name servers with dnspython (answers cached for their
TTL), or to the servers named in the engine's ``dns_servers`` setting. A plain host lookup
uses the system resolver (``getaddrinfo``: ``/etc/hosts`` first) unless ``dns_servers`` is set.
When the name servers do not answer, the engine stops asking them for ``DOWN_SECONDS`` and
uses ``getaddrinfo`` alone, so a machine without DNS does not wait on every request.

The ordering rules (NAPTR order/preference, SRV priority and weighted random choice, RFC 2782)
are pure functions, tested without a network.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

__all__ = [
    "NAPTR_SERVICES",
    "DnsRecord",
    "Hop",
    "Naptr",
    "SipResolver",
    "Srv",
    "order_naptr",
    "order_srv",
    "parse_nameserver",
    "srv_name",
]

log = logging.getLogger("drachtio.engine")

#: NAPTR service field -> our transport (RFC 3263 section 4.1; WebSocket is never dialled).
NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
DEFAULT_PORT = {"udp": 5060, "tcp": 5060, "tls": 5061}
#: how long a name server that did not answer is left alone
DOWN_SECONDS = 30.0
#: how long "no such record" is remembered, and getaddrinfo's answers (it gives no TTL)
NEGATIVE_TTL = 30.0
HOSTS_TTL = 30.0
CACHE_SIZE = 4096
#: a bound on the record sets one resolution fetches (each is kept at least 1 s, so a
#: resolution settles; this only stops one that would not, e.g. a cache cleared meanwhile)
MAX_LOOKUPS = 256


@dataclass(frozen=True, slots=True)
class Naptr:
    order: int
    preference: int
    flags: str
    service: str
    replacement: str


@dataclass(frozen=True, slots=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class Hop:
    """Where to send: our transport, an IP address, a port."""

    proto: str
    host: str
    port: int


DnsRecord = Naptr | Srv


def srv_name(proto: str, domain: str) -> str:
    """``_sip._udp.example.com`` / ``_sips._tcp.example.com`` (TLS)."""
    domain = domain.rstrip(".")
    if proto == "tls":
        return f"_sips._tcp.{domain}"
    return f"_sip._{proto}.{domain}"


def order_naptr(records: Sequence[Naptr], protos: Collection[str],
                secure: bool = False) -> list[tuple[str, str]]:
    """``(transport, SRV name)`` to try, best first: S-flag records whose service we support
    (only ``SIPS+D2T`` for a sips URI), by order then preference."""
    out: list[tuple[Naptr, str]] = []
    for rec in records:
        proto = NAPTR_SERVICES.get(rec.service.upper())
        if proto is None or proto not in protos or rec.flags.lower() != "s":
            continue
        if secure and proto != "tls":
            continue
        out.append((rec, proto))
    out.sort(key=lambda item: (item[0].order, item[0].preference))
    return [(proto, rec.replacement.rstrip(".")) for rec, proto in out]


def order_srv(records: Sequence[Srv], rng: random.Random | None = None) -> list[Srv]:
    """RFC 2782: lowest priority first; within a priority a weighted random order, records
    of weight 0 after the weighted ones (the RFC's running sum picks them only when the
    random number is exactly 0)."""
    pick = (rng or random).random
    out: list[Srv] = []
    usable = [r for r in records if r.target not in ("", ".")]
    for prio in sorted({r.priority for r in usable}):
        group = sorted((r for r in usable if r.priority == prio), key=lambda r: r.weight)
        while group:
            total = sum(r.weight for r in group)
            if total == 0:
                out.extend(group)
                break
            point = pick() * total
            running = 0
            for i, rec in enumerate(group):
                running += rec.weight
                if running > point:
                    out.append(group.pop(i))
                    break
            else:  # float edge: take the heaviest
                out.append(group.pop())
    return out


class _Miss(Exception):
    """A record set the plan needs is not cached (yet, or any more)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind, name)
        self.kind = kind
        self.name = name


class SipResolver:
    """Resolves SIP URI hosts per RFC 3263 (see the module docstring).

    ``servers``: name servers as ``"ip"`` or ``"ip:port"``; None uses the system's
    (``/etc/resolv.conf``). ``protos``: the transports the engine can send on.

    The rules run as one synchronous plan over a cache of record sets (kept for their TTL):
    ``resolve_cached`` answers from the cache alone, so a request to a name seen recently
    costs no task and no await; ``resolve`` fetches whatever the plan misses and runs it
    again. SRV targets are ordered afresh on every call (RFC 2782's weights spread the load
    per request, not per TTL).
    """

    def __init__(self, protos: Collection[str], servers: Sequence[str] | None = None,
                 timeout: float = 2.0,
                 getaddrinfo: Callable[..., object] | None = None) -> None:
        self.protos = frozenset(protos)
        self.explicit = bool(servers)
        self.timeout = timeout
        self._down_until = 0.0
        self._getaddrinfo = getaddrinfo
        #: (name, kind) -> (expires, records); kind is NAPTR, SRV or ADDR (its addresses)
        self._cache: dict[tuple[str, str], tuple[float, list[Any]]] = {}
        self._resolver: dns.asyncresolver.Resolver | None
        try:
            res = dns.asyncresolver.Resolver(configure=not servers)
        except (dns.resolver.NoResolverConfiguration, OSError) as exc:
            log.info("no DNS configuration (%s): host names resolve with getaddrinfo only", exc)
            self._resolver = None
            return
        if servers:
            res.nameservers = [parse_nameserver(s) for s in servers]
        res.lifetime = timeout
        res.timeout = timeout
        self._resolver = res

    @property
    def dns_usable(self) -> bool:
        return self._resolver is not None and time.monotonic() >= self._down_until

    def resolve_cached(self, host: str, port: int | None, proto: str | None,
                       secure: bool = False) -> list[Hop] | None:
        """``resolve`` from the cache alone; None when a record set is missing."""
        try:
            return self._plan(host, port, proto, secure)
        except _Miss:
            return None

    async def resolve(self, host: str, port: int | None, proto: str | None,
                      secure: bool = False) -> list[Hop]:
        """Every hop for a URI's host, best first, all of one transport (empty: the name
        does not resolve). ``port``/``proto``: as written in the URI (None when absent)."""
        for _ in range(MAX_LOOKUPS):
            try:
                return self._plan(host, port, proto, secure)
            except _Miss as miss:
                await self._fetch(miss.kind, miss.name)
        log.warning("resolving %s took more than %d lookups; giving up", host, MAX_LOOKUPS)
        return []

    # -- the rules (synchronous, over the cache) -----------------------------------------------
    def _plan(self, host: str, port: int | None, proto: str | None,
              secure: bool) -> list[Hop]:
        if port is not None or not self.dns_usable:
            chosen = proto or self._default_proto(secure)
            return self._host_hops(host, chosen, port or DEFAULT_PORT.get(chosen, 5060))
        if proto is not None:
            hops = self._srv_hops(proto, srv_name(proto, host))
            return hops or self._host_hops(host, proto, DEFAULT_PORT.get(proto, 5060))
        candidates = order_naptr(self._records(host, "NAPTR"), self.protos, secure)
        if not candidates:  # no NAPTR records, or none for a transport of ours
            order = ("tls",) if secure else ("udp", "tcp", "tls")
            candidates = [(p, srv_name(p, host)) for p in order if p in self.protos]
        for cand_proto, name in candidates:
            hops = self._srv_hops(cand_proto, name)
            if hops:
                return hops
        chosen = self._default_proto(secure)
        return self._host_hops(host, chosen, DEFAULT_PORT[chosen])

    def _default_proto(self, secure: bool) -> str:
        """TLS for sips; else UDP, or TCP on an engine without UDP."""
        if secure:
            return "tls"
        return "udp" if "udp" in self.protos or not self.protos else "tcp"

    def _srv_hops(self, proto: str, name: str) -> list[Hop]:
        out: list[Hop] = []
        for rec in order_srv(self._records(name, "SRV")):
            for hop in self._host_hops(rec.target, proto, rec.port):
                if hop not in out:
                    out.append(hop)
        return out

    def _host_hops(self, host: str, proto: str, port: int) -> list[Hop]:
        if _is_ip(host):
            return [Hop(proto, host.strip("[]"), port)]
        return [Hop(proto, ip, port) for ip in self._records(host, "ADDR")]

    def _records(self, name: str, kind: str) -> list[Any]:
        key = (name.lower(), kind)
        hit = self._cache.get(key)
        if hit is None or hit[0] <= time.monotonic():
            raise _Miss(kind, name)
        return hit[1]

    # -- filling the cache -------------------------------------------------------------------
    def _store(self, name: str, kind: str, records: list[Any], ttl: float) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        # at least a second: a TTL of 0 must still let the resolution that asked finish
        self._cache[(name.lower(), kind)] = (time.monotonic() + max(ttl, 1.0), records)

    async def _fetch(self, kind: str, name: str) -> None:
        if kind == "ADDR":
            records, ttl = await self._addresses(name)
        else:
            records, ttl = await self._query(name, kind)
        self._store(name, kind, records, ttl)

    async def _query(self, name: str, rdtype: str) -> tuple[list[Any], float]:
        """NAPTR/SRV/A/AAAA records of ``name`` and how long to keep them."""
        res = self._resolver
        if res is None or not self.dns_usable:
            return [], 0.0
        try:
            answer = await res.resolve(name, rdtype, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return [], NEGATIVE_TTL
        except (dns.exception.Timeout, dns.resolver.LifetimeTimeout, OSError) as exc:
            log.warning("DNS %s %s: %s; using getaddrinfo only for %.0f s", rdtype, name,
                        exc, DOWN_SECONDS)
            self._down_until = time.monotonic() + DOWN_SECONDS
            return [], 0.0
        except dns.exception.DNSException as exc:
            log.info("DNS %s %s: %s", rdtype, name, exc)
            return [], NEGATIVE_TTL
        if answer.rrset is None:
            return [], NEGATIVE_TTL
        ttl = max(0.0, min(float(answer.rrset.ttl), answer.expiration - time.time()))
        out: list[Any] = []
        for rd in answer.rrset:
            if rdtype == "NAPTR":
                out.append(Naptr(rd.order, rd.preference, _text(rd.flags), _text(rd.service),
                                 rd.replacement.to_text(omit_final_dot=True)))
            elif rdtype == "SRV":
                out.append(Srv(rd.priority, rd.weight, rd.port,
                               rd.target.to_text(omit_final_dot=True)))
            else:
                out.append(rd.address)
        return out, ttl

    async def _addresses(self, host: str) -> tuple[list[str], float]:
        """IP addresses of a host name: from the configured name servers (A, then AAAA), or
        from the system resolver (``getaddrinfo``, ``/etc/hosts`` first)."""
        if self.explicit and self.dns_usable:
            for rdtype in ("A", "AAAA"):
                ips, ttl = await self._query(host, rdtype)
                if ips:
                    return ips, ttl
        loop = asyncio.get_running_loop()
        lookup = self._getaddrinfo or loop.getaddrinfo
        try:
            infos = await lookup(host, None, type=socket.SOCK_DGRAM)  # type: ignore[misc]
        except (OSError, UnicodeError):
            return [], NEGATIVE_TTL
        v4 = [i for i in infos if i[0] == socket.AF_INET]
        ips = []
        for info in v4 or infos:
            ip = str(info[4][0])
            if ip not in ips:
                ips.append(ip)
        return ips, HOSTS_TTL


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
    except OSError:
        return False
    return True


def parse_nameserver(spec: str) -> str | dns.nameserver.Nameserver:
    """``"127.0.0.1"`` or ``"127.0.0.1:5353"`` / ``"[::1]:5353"``."""
    spec = spec.strip()
    if spec.startswith("["):
        addr, _, rest = spec[1:].partition("]")
        port = rest.lstrip(":")
    elif spec.count(":") == 1:
        addr, _, port = spec.partition(":")
    else:
        addr, port = spec, ""
    if not _is_ip(addr):
        raise ValueError(f"DNS server must be an IP address (optionally :port), got {spec!r}")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad DNS server port in {spec!r}")
        return dns.nameserver.Do53Nameserver(addr, int(port))
    return addr
