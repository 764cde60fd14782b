"""SDP helpers: exact round trip, origin/version, connection, media, direction, hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio.sip.sdp import (
    Connection,
    SdpError,
    hold_offer,
    is_hold,
    parse_sdp,
    unhold_offer,
)

# RFC 4317 section 2.1-style audio+video offer, IPv4, session-level c=
OFFER_V4 = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    "s=\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 97\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:97 iLBC/8000\r\n"
    "m=video 51372 RTP/AVP 31 32\r\n"
    "a=rtpmap:31 H261/90000\r\n"
    "a=rtpmap:32 MPV/90000\r\n"
)

# IPv6, media-level c=, explicit sendrecv, telephone-event, RTCP attribute
OFFER_V6 = (
    "v=0\r\n"
    "o=- 1234567890123456789 3 IN IP6 2001:db8::1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\n"
    "c=IN IP6 2001:db8::10\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=rtcp:30001 IN IP6 2001:db8::10\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

# a WebRTC-ish offer with a rejected stream and session-level attributes
OFFER_REJECTED = (
    "v=0\r\n"
    "o=mozilla...THIS_IS_SDPARTA-99.0 5521596813297404530 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic:WMS *\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"
    "c=IN IP4 203.0.113.5\r\n"
    "a=mid:0\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=sendrecv\r\n"
    "m=video 0 UDP/TLS/RTP/SAVPF 120\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=inactive\r\n"
    "a=mid:1\r\n"
)

T38 = (
    "v=0\r\n"
    "o=- 1 2 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "t=0 0\r\n"
    "m=image 40000 udptl t38\r\n"
    "a=T38FaxVersion:0\r\n"
)


def sdp_with(session_extra: str = "", media: list[tuple[str, str]] | None = None, c: str = "192.0.2.1") -> str:
    text = f"v=0\r\no=- 1 1 IN IP4 {c}\r\ns=-\r\nc=IN IP4 {c}\r\nt=0 0\r\n{session_extra}"
    for m_line, extra in media or [("m=audio 4000 RTP/AVP 0", "")]:
        text += m_line + "\r\n" + extra
    return text


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text", [OFFER_V4, OFFER_V6, OFFER_REJECTED, T38])
def test_exact_roundtrip(text: str) -> None:
    assert str(parse_sdp(text)) == text
    assert parse_sdp(text.encode()).to_bytes() == text.encode()


def test_roundtrip_lf_mixed_and_no_final_newline() -> None:
    text = "v=0\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0\na=x"
    assert str(parse_sdp(text)) == text
    with_blank = OFFER_V4 + "\r\n"
    assert str(parse_sdp(with_blank)) == with_blank


def test_roundtrip_keeps_unknown_lines_and_order() -> None:
    text = OFFER_V4.replace("t=0 0\r\n", "t=0 0\r\nb=AS:64\r\nz=x y\r\nk=clear:k\r\na=tool:x\r\n")
    sdp = parse_sdp(text)
    assert str(sdp) == text
    assert [ln.type for ln in sdp.session][:8] == ["v", "o", "s", "c", "t", "b", "z", "k"]


def test_origin_fields() -> None:
    o = parse_sdp(OFFER_V4).origin
    assert (o.username, o.session_id, o.version) == ("alice", "2890844526", 2890844526)
    assert (o.nettype, o.addrtype, o.address) == ("IN", "IP4", "host.atlanta.example.com")
    o6 = parse_sdp(OFFER_V6).origin
    assert o6.session_id == "1234567890123456789" and o6.version == 3 and o6.addrtype == "IP6"
    assert str(o6) == "- 1234567890123456789 3 IN IP6 2001:db8::1"


def test_version_read_and_bump_keeps_everything_else() -> None:
    sdp = parse_sdp(OFFER_V4)
    assert sdp.session_id == "2890844526"
    assert sdp.bump_version() == 2890844527
    assert sdp.version == 2890844527
    assert str(sdp) == OFFER_V4.replace(
        "o=alice 2890844526 2890844526 ", "o=alice 2890844526 2890844527 "
    )
    # a huge (64-bit+) version stays exact
    big = parse_sdp(OFFER_V4.replace("2890844526 IN", "18446744073709551615 IN"))
    big.bump_version()
    assert big.version == 18446744073709551616


def test_version_setter_keeps_odd_spacing() -> None:
    sdp = parse_sdp(OFFER_V4.replace("o=alice 2890844526 2890844526", "o=alice  2890844526\t7"))
    sdp.version = 8
    assert "o=alice  2890844526\t8 IN IP4" in str(sdp)
    with pytest.raises(ValueError):
        sdp.version = -1


def test_connection_session_and_media() -> None:
    v4 = parse_sdp(OFFER_V4)
    assert v4.connection == Connection("IN", "IP4", "192.0.2.101")
    assert not v4.connection.is_ipv6
    assert all(m.connection is None for m in v4.media)
    assert all(m.effective_connection == v4.connection for m in v4.media)

    v6 = parse_sdp(OFFER_V6)
    assert v6.connection is None
    conn = v6.media[0].effective_connection
    assert conn is not None and conn.is_ipv6 and conn.address == "2001:db8::10"
    assert conn.addrtype == "IP6"


def test_multicast_connection_suffix_stripped() -> None:
    sdp = parse_sdp(sdp_with().replace("c=IN IP4 192.0.2.1", "c=IN IP4 224.2.36.42/127/3"))
    assert sdp.connection is not None and sdp.connection.address == "224.2.36.42"


def test_media_list() -> None:
    sdp = parse_sdp(OFFER_V4)
    assert [(m.type, m.port, m.proto, m.formats) for m in sdp.media] == [
        ("audio", 49170, "RTP/AVP", ["0", "8", "97"]),
        ("video", 51372, "RTP/AVP", ["31", "32"]),
    ]
    assert sdp.media[0].rtpmap() == {"0": "PCMU/8000", "8": "PCMA/8000", "97": "iLBC/8000"}
    assert sdp.media[0].port_count == 1
    image = parse_sdp(T38).media[0]
    assert (image.type, image.port, image.proto, image.formats) == ("image", 40000, "udptl", ["t38"])
    rejected = parse_sdp(OFFER_REJECTED).media
    assert [m.is_disabled for m in rejected] == [False, True]


def test_port_count_and_port_setter() -> None:
    sdp = parse_sdp(sdp_with(media=[("m=video 49170/2 RTP/AVP 31", "")]))
    m = sdp.media[0]
    assert (m.port, m.port_count) == (49170, 2)
    m.port = 0
    assert "m=video 0/2 RTP/AVP 31\r\n" in str(sdp)
    with pytest.raises(ValueError):
        m.port = 70000


def test_attributes() -> None:
    m = parse_sdp(OFFER_V6).media[0]
    assert m.attributes("fmtp") == ["101 0-16"]
    assert m.attributes("sendrecv") == [None]
    assert m.has_attribute("ptime") and not m.has_attribute("nope")


# --------------------------------------------------------------------------- direction


def test_direction_defaults_to_sendrecv() -> None:
    sdp = parse_sdp(OFFER_V4)
    assert sdp.direction == "sendrecv"
    assert sdp.session.direction is None
    assert [m.direction for m in sdp.media] == [None, None]
    assert [m.effective_direction for m in sdp.media] == ["sendrecv", "sendrecv"]


def test_session_level_direction_inherited_and_overridden() -> None:
    text = sdp_with(
        "a=sendonly\r\n",
        [("m=audio 4000 RTP/AVP 0", ""), ("m=video 4002 RTP/AVP 31", "a=recvonly\r\n")],
    )
    sdp = parse_sdp(text)
    assert sdp.direction == "sendonly"
    assert [m.effective_direction for m in sdp.media] == ["sendonly", "recvonly"]


def test_set_direction_rewrites_in_place_and_appends() -> None:
    sdp = parse_sdp(OFFER_V6)
    sdp.media[0].set_direction("inactive")
    assert str(sdp) == OFFER_V6.replace("a=sendrecv", "a=inactive")
    sdp4 = parse_sdp(OFFER_V4)
    sdp4.media[0].set_direction("sendonly")
    lines = str(sdp4).split("\r\n")
    assert lines[lines.index("a=rtpmap:97 iLBC/8000") + 1] == "a=sendonly"
    with pytest.raises(ValueError):
        sdp4.media[0].set_direction("sendreceive")


def test_set_direction_drops_duplicate_direction_lines() -> None:
    sdp = parse_sdp(sdp_with(media=[("m=audio 4000 RTP/AVP 0", "a=sendonly\r\na=ptime:20\r\na=inactive\r\n")]))
    sdp.media[0].set_direction("sendrecv")
    assert sdp.media[0].attributes("sendrecv") == [None]
    assert not sdp.media[0].has_attribute("inactive")
    assert str(sdp).endswith("a=sendrecv\r\na=ptime:20\r\n")


# --------------------------------------------------------------------------- hold


@pytest.mark.parametrize(
    ("text", "held"),
    [
        (OFFER_V4, False),
        (OFFER_V6, False),
        (OFFER_V6.replace("a=sendrecv", "a=sendonly"), True),
        (OFFER_V6.replace("a=sendrecv", "a=inactive"), True),
        (OFFER_V6.replace("a=sendrecv", "a=recvonly"), False),
        # session-level sendonly applies to every stream
        (sdp_with("a=sendonly\r\n", [("m=audio 1 RTP/AVP 0", ""), ("m=video 2 RTP/AVP 31", "")]), True),
        (sdp_with("a=inactive\r\n"), True),
        # one stream still sendrecv: not a hold
        (
            sdp_with("", [("m=audio 1 RTP/AVP 0", "a=sendonly\r\n"), ("m=video 2 RTP/AVP 31", "")]),
            False,
        ),
        # media overrides the session's sendonly
        (sdp_with("a=sendonly\r\n", [("m=audio 1 RTP/AVP 0", "a=sendrecv\r\n")]), False),
        # RFC 2543 hold: c=0.0.0.0 at session level
        (sdp_with(c="0.0.0.0"), True),
        # c=0.0.0.0 on the media line only
        (sdp_with("", [("m=audio 1 RTP/AVP 0", "c=IN IP4 0.0.0.0\r\n")]), True),
        # port 0 means removed, not held; ignored streams do not spoil a hold
        (OFFER_REJECTED, False),
        (sdp_with("", [("m=audio 0 RTP/AVP 0", "a=inactive\r\n")]), False),
        (
            sdp_with("", [("m=audio 1 RTP/AVP 0", "a=sendonly\r\n"), ("m=video 0 RTP/AVP 31", "")]),
            True,
        ),
        # no media at all
        ("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n", False),
    ],
)
def test_is_hold(text: str, held: bool) -> None:
    assert is_hold(text) is held
    assert is_hold(parse_sdp(text)) is held


def test_hold_offer_sendonly_and_version_bump() -> None:
    held = hold_offer(OFFER_V4)
    assert is_hold(held)
    sdp = parse_sdp(held)
    assert [m.direction for m in sdp.media] == ["sendonly", "sendonly"]
    assert sdp.version == 2890844527
    assert sdp.session_id == "2890844526"
    # only the version and the added attributes differ
    expected = (
        OFFER_V4.replace("2890844526 IN", "2890844527 IN")
        .replace("a=rtpmap:97 iLBC/8000\r\n", "a=rtpmap:97 iLBC/8000\r\na=sendonly\r\n")
        + "a=sendonly\r\n"
    )
    assert held == expected


def test_hold_offer_when_text_lacks_final_newline() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0"
    held = hold_offer(text)
    assert held.endswith("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n")
    assert is_hold(held)


def test_hold_offer_does_not_touch_input_object() -> None:
    sdp = parse_sdp(OFFER_V6)
    held = hold_offer(sdp)
    assert str(sdp) == OFFER_V6
    assert "a=sendonly\r\n" in held and "a=sendrecv" not in held


def test_hold_offer_inactive_when_remote_already_holds() -> None:
    held_by_them = OFFER_V6.replace("a=sendrecv", "a=recvonly")
    assert parse_sdp(hold_offer(held_by_them)).media[0].direction == "inactive"
    assert parse_sdp(hold_offer(OFFER_V6, inactive=True)).media[0].direction == "inactive"


def test_hold_offer_skips_rejected_streams_and_session_direction() -> None:
    text = sdp_with(
        "a=sendrecv\r\n", [("m=audio 1 RTP/AVP 0", ""), ("m=video 0 RTP/AVP 31", "a=sendrecv\r\n")]
    )
    held = parse_sdp(hold_offer(text))
    assert held.session.direction is None
    assert [m.direction for m in held.media] == ["sendonly", "sendrecv"]  # port 0 untouched
    assert held.media[1].port == 0


def test_unhold_offer() -> None:
    held = hold_offer(OFFER_V4)
    resumed = unhold_offer(held)
    sdp = parse_sdp(resumed)
    assert not is_hold(resumed)
    assert [m.direction for m in sdp.media] == ["sendrecv", "sendrecv"]
    assert sdp.version == 2890844528
    session_held = sdp_with("a=inactive\r\n")
    resumed2 = parse_sdp(unhold_offer(session_held))
    assert resumed2.session.direction is None
    assert resumed2.media[0].effective_direction == "sendrecv"
    assert parse_sdp(unhold_offer(OFFER_V6, direction="recvonly")).media[0].direction == "recvonly"
    with pytest.raises(ValueError):
        unhold_offer(OFFER_V6, direction="bogus")


def test_hold_unhold_ipv6_roundtrip_keeps_lines() -> None:
    again = unhold_offer(hold_offer(OFFER_V6))
    assert again == OFFER_V6.replace(" 3 IN IP6", " 5 IN IP6")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text",
    [
        "v=0\r\ns=-\r\n",  # no o=
        "v=0\r\no=- 1 IN IP4 1.1.1.1\r\n",  # o= too short
        "v=0\r\no=- 1 x IN IP4 1.1.1.1\r\n",  # version not a number
        "v=0\r\no=- 1 \u00b2 IN IP4 1.1.1.1\r\n",  # unicode digit
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nthis is not sdp\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\n=x\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio port RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio 99999 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nc=IN IP4\r\n",
        "",
    ],
)
def test_malformed_sdp_raises_sdp_error(text: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(text)
    with pytest.raises(ValueError):
        is_hold(text)


def test_wrong_type() -> None:
    with pytest.raises(TypeError):
        parse_sdp(42)  # type: ignore[arg-type]


def test_non_utf8_bytes_roundtrip() -> None:
    raw = OFFER_V4.encode().replace(b"s=\r\n", b"s=\xff\xfe\r\n")
    assert parse_sdp(raw).to_bytes() == raw


# --------------------------------------------------------------------------- property

_sdp_line = st.sampled_from(
    ["v=0", "o=- 1 2 IN IP4 1.2.3.4", "s=-", "c=IN IP4 0.0.0.0", "c=IN IP6 ::1", "t=0 0",
     "m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 31", "a=sendonly", "a=inactive",
     "a=recvonly", "a=sendrecv", "a=rtpmap:0 PCMU/8000", "", "b=AS:64"]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_sdp_line, max_size=14), eol=st.sampled_from(["\r\n", "\n"]))
def test_arbitrary_sdp_text_roundtrips_or_raises_value_error(lines: list[str], eol: str) -> None:
    text = eol.join(["v=0", "o=- 1 2 IN IP4 1.2.3.4", *lines])
    try:
        sdp = parse_sdp(text)
    except ValueError:
        return
    assert str(sdp) == text
    held = is_hold(sdp)
    assert isinstance(held, bool)
    if any(not m.is_disabled for m in sdp.media):
        assert is_hold(hold_offer(sdp))
        resumed = unhold_offer(sdp)
        assert parse_sdp(resumed).version == sdp.version + 1
