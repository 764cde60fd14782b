"""A tiny authoritative DNS server on 127.0.0.1 for tests of RFC 3263 routing (NAPTR, SRV,
A records served with dnspython over UDP; point the engine's ``dns_servers`` at ``.server``).

``zone`` maps ``(name, type)`` to record texts, e.g.
``{("voip.test", "NAPTR"): ['10 50 "s" "SIP+D2U" "" _sip._udp.voip.test.']}``; a name with
no records of a type gets NOERROR/no answer, an unknown name NXDOMAIN. ``queries`` records
every question asked, in order, as ``(name, type)``.
"""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsZone(asyncio.DatagramProtocol):
    def __init__(self, zone: dict[tuple[str, str], list[str]], ttl: int = 60) -> None:
        self.zone = {(n.rstrip(".").lower(), t.upper()): v for (n, t), v in zone.items()}
        self.ttl = ttl
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        q = query.question[0]
        name = q.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(q.rdtype)
        self.queries.append((name, rdtype))
        records = self.zone.get((name, rdtype))
        if records:
            resp.answer.append(dns.rrset.from_text_list(q.name, self.ttl, "IN", rdtype,
                                                        records))
        elif not any(n == name for n, _ in self.zone):
            resp.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(resp.to_wire(), addr)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> DnsZone:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self,
                                                           local_addr=("127.0.0.1", 0))
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
