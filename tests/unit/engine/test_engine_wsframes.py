"""WebSocket framing for SIP over WebSocket (RFC 6455 examples, RFC 7118 handshake)."""

from __future__ import annotations

import os

import pytest

from drachtio.engine.ws import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    WsDecoder,
    WsError,
    accept_key,
    encode_frame,
    handshake,
)

UPGRADE = (b"GET / HTTP/1.1\r\nHost: sip.example\r\nUpgrade: websocket\r\n"
           b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")


def test_handshake() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455
    answer, ok = handshake(UPGRADE)
    assert ok and answer.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert b"Sec-WebSocket-Protocol: sip\r\n" in answer
    answer, ok = handshake(UPGRADE.replace(b"Protocol: sip", b"Protocol: chat"))
    assert not ok and answer.startswith(b"HTTP/1.1 400")
    answer, ok = handshake(UPGRADE.replace(b"Upgrade: websocket\r\n", b""))
    assert not ok and answer.startswith(b"HTTP/1.1 426")
    assert handshake(b"\xff garbage")[1] is False


def test_decode_rfc6455_examples() -> None:
    d = WsDecoder()
    # a single-frame masked text message "Hello" (RFC 6455 5.7), split anywhere
    frame = bytes.fromhex("818537fa213d7f9f4d5158")
    out = []
    for i in range(len(frame)):
        out += d.feed(frame[i:i + 1])
    assert out == [(OP_TEXT, b"Hello")]
    # fragmented "Hel" + "lo" with a ping in between
    mask = b"\x01\x02\x03\x04"
    first = bytearray(encode_frame(OP_TEXT, b"Hel", mask))
    first[0] &= 0x7F  # not final
    cont = bytearray(encode_frame(0, b"lo", mask))
    assert d.feed(bytes(first) + encode_frame(OP_PING, b"p", mask) + bytes(cont)) == [
        (OP_PING, b"p"), (OP_TEXT, b"Hello")]


def test_lengths_and_errors() -> None:
    d = WsDecoder(max_message=100_000)
    for n in (0, 125, 126, 65535, 65536, 70_000):
        data = os.urandom(n)
        assert d.feed(encode_frame(OP_BINARY, data, b"abcd")) == [(OP_BINARY, data)]
    with pytest.raises(WsError):
        WsDecoder().feed(encode_frame(OP_TEXT, b"x"))  # client frames must be masked
    with pytest.raises(WsError) as exc:
        WsDecoder(max_message=10).feed(encode_frame(OP_TEXT, b"x" * 11, b"abcd"))
    assert exc.value.code == 1009
    with pytest.raises(WsError):
        WsDecoder().feed(encode_frame(0, b"x", b"abcd"))  # continuation of nothing
    with pytest.raises(WsError):
        WsDecoder().feed(bytes([0xC1, 0x80]) + b"abcd")  # reserved bit
    assert WsDecoder().feed(encode_frame(OP_CLOSE, b"\x03\xe8", b"abcd")) == [
        (OP_CLOSE, b"\x03\xe8")]
