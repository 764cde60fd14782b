"""Temporary demo: ``python -m drachtio.demo`` parses a sample INVITE and shows its fields.

(To be replaced by a real call demo.)
"""

from __future__ import annotations

from drachtio.sip import Request, parse_message

SAMPLE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'f: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"m: <sip:alice@192.0.2.101:5060;transport=udp>;expires=3600\r\n"
    b"Supported: timer, 100rel\r\n"
    b"c: application/sdp\r\n"
    b"Content-Length: 33\r\n"
    b"\r\n"
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.101\r\n"
)


def main() -> None:
    msg = parse_message(SAMPLE)
    assert isinstance(msg, Request)
    via = msg.top_via
    rows: list[tuple[str, object]] = [
        ("method", msg.method),
        ("request-uri", msg.parsed_uri),
        ("via", f"{via.transport} {via.sent_by} branch={via.branch} rport={via.has_rport}"),
        ("from", f"{msg.from_.display!r} {msg.from_.uri} tag={msg.from_.tag}"),
        ("to", f"{msg.to.display!r} {msg.to.uri} tag={msg.to.tag}"),
        ("call-id", msg.call_id),
        ("cseq", msg.cseq),
        ("max-forwards", msg.max_forwards),
        ("contact", ", ".join(f"{c.uri} expires={c.expires}" for c in msg.contacts)),
        ("supported", msg.supported),
        ("content-type", msg.content_type),
        ("body", msg.body.decode("utf-8", "replace")),
        ("round-trip", msg.to_bytes() == SAMPLE),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:>{width}}: {value}")


if __name__ == "__main__":
    main()
