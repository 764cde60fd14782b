"""Proxy response selection (RFC 3261 16.7) and loop hashing, as pure functions."""

from __future__ import annotations

from drachtio.engine.proxy import _best_response, _clean_target, _loop_hash
from drachtio.sip import Response, parse_message


def resp(status: int, *extra: tuple[str, str]) -> Response:
    return Response(status, None, [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:a@b>;tag=1"),
                                   ("To", "<sip:c@d>;tag=2"), ("Call-ID", "x"), ("CSeq", "1 INVITE"),
                                   *extra])


def test_six_hundred_wins() -> None:
    assert _best_response([resp(486), resp(603), resp(302)]).status == 603


def test_lowest_class_and_preferred_codes() -> None:
    assert _best_response([resp(500), resp(486)]).status == 486
    assert _best_response([resp(404), resp(401, ("WWW-Authenticate", 'Digest realm="a"'))]).status == 401
    assert _best_response([resp(302), resp(486)]).status == 302
    assert _best_response([]) is None


def test_503_becomes_500_and_challenges_merge() -> None:
    assert _best_response([resp(503)]).status == 500
    best = _best_response([resp(401, ("WWW-Authenticate", 'Digest realm="a"')),
                           resp(407, ("Proxy-Authenticate", 'Digest realm="b"'))])
    assert best.status in (401, 407)
    assert best.get_all("WWW-Authenticate") and best.get_all("Proxy-Authenticate")


def test_clean_target() -> None:
    assert _clean_target("1.2.3.4:5060") == "sip:1.2.3.4:5060"
    assert _clean_target("<sip:a@b;lr>") == "sip:a@b;lr"
    assert _clean_target("tel:+1") == "tel:+1"


def test_loop_hash_changes_with_request_uri() -> None:
    base = (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            b"Content-Length: 0\r\n\r\n")
    h1 = _loop_hash(parse_message(base))
    h2 = _loop_hash(parse_message(base.replace(b"INVITE sip:a@b", b"INVITE sip:z@b")))
    assert h1 != h2 and h1 == _loop_hash(parse_message(base))
