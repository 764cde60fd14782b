"""Control-protocol framing (drachtio.wire.codec): ``<utf-8 length>#<meta>[\\r\\n<sip>]``.

Mirrors the reference wire-protocol cases: single frame, UTF-8 lengths, many frames per
read, large frames, arbitrary chunking, '#' inside payloads, bad UTF-8, bad framing.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio.wire.codec import (
    DEFAULT_MAX_FRAME,
    ControlMessage,
    FrameDecoder,
    FramingError,
    encode,
    new_id,
)

SIP_OPTIONS = (
    "OPTIONS sip:probe@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK70f9c9af6c34;rport=5080\r\n"
    "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
    "Call-ID: abc\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def feed_chunked(data: bytes, sizes: list[int] | int, decoder: FrameDecoder | None = None):
    dec = decoder or FrameDecoder()
    out: list[ControlMessage] = []
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes if isinstance(sizes, int) else sizes[i % len(sizes)]
        out += dec.feed(data[pos : pos + size])
        pos += size
        i += 1
    return out, dec


# --------------------------------------------------------------------------- encode


def test_encode_single_meta_only() -> None:
    msg = ControlMessage(["id1", "route", "invite"])
    assert encode(msg) == b"16#id1|route|invite"


def test_encode_with_sip_part() -> None:
    msg = ControlMessage(["id2", "sip", "", ""], "INVITE sip:x SIP/2.0\r\n\r\n")
    payload = b"id2|sip||\r\nINVITE sip:x SIP/2.0\r\n\r\n"
    assert encode(msg) == b"%d#" % len(payload) + payload


def test_single_message_roundtrip() -> None:
    msg = ControlMessage(
        [new_id(), "sip", "network", "276", "udp", "127.0.0.1", "5080", "12:46:34.418862",
         new_id(), "", "127.0.0.1", "5070", ""],
        SIP_OPTIONS,
    )
    dec = FrameDecoder()
    (got,) = dec.feed(encode(msg))
    assert got == msg
    assert got.id == msg.tokens[0]
    assert got.kind == "sip"
    assert got.sip == SIP_OPTIONS
    assert dec.buffered == 0


def test_utf8_emoji_length_counts_bytes() -> None:
    text = "MESSAGE body \U0001F600\U0001F389 caf\u00e9 \u4e2d\u6587"
    msg = ControlMessage(["id", "sip", ""], text)
    frame = encode(msg)
    length, _, payload = frame.partition(b"#")
    assert int(length) == len(payload) == len(msg.payload().encode("utf-8"))
    assert int(length) > len(msg.payload())  # characters != bytes
    assert FrameDecoder().feed(frame) == [msg]


def test_emoji_split_inside_a_multibyte_character() -> None:
    msg = ControlMessage(["id", "x"], "\U0001F600" * 3)
    frame = encode(msg)
    # split inside the 4-byte sequence of the first emoji
    cut = frame.index("\U0001F600".encode()) + 2
    dec = FrameDecoder()
    assert dec.feed(frame[:cut]) == []
    assert dec.feed(frame[cut:]) == [msg]


def test_1000_messages_in_one_feed() -> None:
    msgs = [ControlMessage([new_id(), "response", str(i), "OK"]) for i in range(1000)]
    data = b"".join(encode(m) for m in msgs)
    assert FrameDecoder().feed(data) == msgs


def test_200_large_messages_in_one_feed() -> None:
    msgs = [ControlMessage([new_id(), "sip", str(i)], "x" * 10_000 + str(i)) for i in range(200)]
    data = b"".join(encode(m) for m in msgs)
    dec = FrameDecoder()
    assert dec.feed(data) == msgs
    assert dec.buffered == 0


def test_1000_large_messages_fed_byte_by_byte() -> None:
    msgs = [ControlMessage([new_id(), "sip", str(i)], chr(65 + i % 26) * 10_000) for i in range(1000)]
    data = b"".join(encode(m) for m in msgs)
    out, dec = feed_chunked(data, 1)
    assert len(out) == 1000
    assert out == msgs
    assert dec.buffered == 0


def test_large_messages_fed_in_irregular_chunks() -> None:
    rnd = random.Random(4475)
    msgs = [ControlMessage([new_id(), "sip", str(i)], "y" * rnd.randint(0, 20_000)) for i in range(300)]
    data = b"".join(encode(m) for m in msgs)
    sizes = [rnd.randint(1, 9000) for _ in range(97)]
    out, _ = feed_chunked(data, sizes)
    assert out == msgs


def test_payload_made_of_hashes() -> None:
    msgs = [
        ControlMessage(["#" * 10]),
        ControlMessage(["#", "#", "#"], "#" * 50),
        ControlMessage(["12#"], "34#56#"),
    ]
    data = b"".join(encode(m) for m in msgs)
    assert FrameDecoder().feed(data) == msgs
    out, _ = feed_chunked(data, 1)
    assert out == msgs


def test_payload_only_hashes_raw_frame() -> None:
    dec = FrameDecoder()
    (msg,) = dec.feed(b"5######")
    assert msg.tokens == ["#####"]
    assert dec.buffered == 0
    # one '#' too many: the next frame starts without a length
    with pytest.raises(FramingError) as info:
        FrameDecoder().feed(b"5#######")
    assert [m.tokens for m in info.value.messages] == [["#####"]]


def test_invalid_utf8_then_valid_message() -> None:
    bad = b"id|sip|\xff\xfe\xc3(\xed\xa0\x80"
    good = ControlMessage(["id2", "response", "id1", "OK"])
    data = b"%d#" % len(bad) + bad + encode(good)
    dec = FrameDecoder()
    first, second = dec.feed(data)
    assert first.tokens[:2] == ["id", "sip"]
    assert "\ufffd" in first.tokens[2]
    assert second == good
    assert dec.buffered == 0


def test_invalid_utf8_split_across_feeds() -> None:
    bad = b"id|\xe2\x82"  # truncated 3-byte sequence at the end of the payload
    good = ControlMessage(["next"])
    data = b"%d#" % len(bad) + bad + encode(good)
    out, _ = feed_chunked(data, 3)
    assert [m.tokens[0] for m in out] == ["id", "next"]


def test_split_inside_length_digits() -> None:
    msg = ControlMessage(["id", "sip"], "z" * 12_345)
    frame = encode(msg)
    assert frame.startswith(b"12353#")
    dec = FrameDecoder()
    assert dec.feed(frame[:2]) == []  # "12"
    assert dec.feed(frame[2:4]) == []  # "35"
    assert dec.feed(frame[4:5]) == []  # "3"
    assert dec.feed(frame[5:6]) == []  # "#"
    assert dec.feed(frame[6:100]) == []
    assert dec.feed(frame[100:]) == [msg]


def test_frames_split_at_every_position() -> None:
    msgs = [ControlMessage(["a", "b"], "c\u00e9"), ControlMessage(["d"]), ControlMessage(["e", ""])]
    data = b"".join(encode(m) for m in msgs)
    for cut in range(len(data) + 1):
        dec = FrameDecoder()
        assert dec.feed(data[:cut]) + dec.feed(data[cut:]) == msgs, cut


def test_zero_length_frame() -> None:
    (msg,) = FrameDecoder().feed(b"0#")
    assert msg.tokens == [""]
    assert msg.sip is None
    assert msg.id == ""


@pytest.mark.parametrize(
    "data",
    [b"x5#hello", b"abc", b"-5#hello", b"5 #hello", b" 5#hello", b"#hello", b"+5#hello", b"\r\n5#hello"],
)
def test_non_digit_before_hash_is_framing_error(data: bytes) -> None:
    with pytest.raises(FramingError):
        FrameDecoder().feed(data)


def test_non_digit_detected_without_waiting_for_hash() -> None:
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"12a")


def test_framing_error_keeps_the_good_messages_before_it() -> None:
    good = ControlMessage(["ok1"])
    dec = FrameDecoder()
    with pytest.raises(FramingError) as info:
        dec.feed(encode(good) + b"garbage")
    assert info.value.messages == [good]
    assert isinstance(info.value, ValueError)
    # the decoder stays broken: the bad bytes are still first
    with pytest.raises(FramingError):
        dec.feed(encode(good))


def test_oversize_frame_is_framing_error() -> None:
    dec = FrameDecoder(max_frame=1000)
    assert dec.feed(b"1000#" + b"a" * 1000)[0].tokens == ["a" * 1000]
    with pytest.raises(FramingError, match="exceeds"):
        dec.feed(b"1001#")


def test_oversize_detected_before_hash_arrives() -> None:
    with pytest.raises(FramingError):
        FrameDecoder(max_frame=1000).feed(b"99999")  # cannot be a frame <= 1000 bytes


def test_too_many_length_digits_is_framing_error() -> None:
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"1" * 20)
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"%d#" % (DEFAULT_MAX_FRAME + 1))


def test_leading_zeros_accepted() -> None:
    assert FrameDecoder().feed(b"0005#hello")[0].tokens == ["hello"]


def test_large_max_frame_allows_more_digits() -> None:
    dec = FrameDecoder(max_frame=10**10)
    assert dec.feed(b"0000000003#abc")[0].tokens == ["abc"]


def test_meta_trailing_empty_tokens_preserved() -> None:
    meta = "uuid|sip|network|276|udp|127.0.0.1|5080|12:46:34.418862|txn||127.0.0.1|5070|"
    data = (meta + "\r\n" + SIP_OPTIONS).encode()
    frame = b"%d#" % len(data) + data
    (msg,) = FrameDecoder().feed(frame)
    assert len(msg.tokens) == 13
    assert msg.tokens[9] == ""
    assert msg.tokens[12] == ""
    assert msg.sip == SIP_OPTIONS
    assert encode(msg) == frame


def test_meta_only_trailing_pipes() -> None:
    (msg,) = FrameDecoder().feed(encode(ControlMessage(["id", "response", "x", "OK", "", ""])))
    assert msg.tokens == ["id", "response", "x", "OK", "", ""]
    assert msg.sip is None


def test_empty_sip_part_differs_from_none() -> None:
    with_empty = ControlMessage(["id", "sip"], "")
    (msg,) = FrameDecoder().feed(encode(with_empty))
    assert msg.sip == ""
    (msg2,) = FrameDecoder().feed(encode(ControlMessage(["id", "sip"])))
    assert msg2.sip is None


def test_sip_part_may_contain_crlf_and_pipes() -> None:
    msg = ControlMessage(["id", "sip"], "X-A: a|b|c\r\n\r\nbody|with\r\n|pipes")
    assert FrameDecoder().feed(encode(msg)) == [msg]


def test_new_id_is_unique_uuid_text() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids)


def test_bad_max_frame_rejected() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_frame=-1)


# --------------------------------------------------------------------------- property

# tokens are not escaped on the wire: '|' and CR LF cannot be inside one
_token = st.text(
    alphabet=st.characters(blacklist_characters="|", blacklist_categories=("Cs",)),
    max_size=20,
).filter(lambda t: "\r\n" not in t)
_sip = st.none() | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
_message = st.builds(ControlMessage, st.lists(_token, min_size=1, max_size=14), _sip)


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(_message, max_size=20), data=st.data())
def test_roundtrip_under_arbitrary_chunking(msgs: list[ControlMessage], data: st.DataObject) -> None:
    stream = b"".join(encode(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    dec = FrameDecoder()
    out: list[ControlMessage] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += dec.feed(stream[prev:cut])
        prev = cut
    assert out == msgs
    assert dec.buffered == 0
