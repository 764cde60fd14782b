"""Parser benchmark: drachtio.sip against sippy's parser, same work, same run.

    .venv/bin/python bench/parse.py [--seconds 2] [--rounds 3] [--distinct N]

The work per message, for a typical INVITE (with SDP) and a typical 200 OK (three Vias):
parse the datagram, read the top Via branch, CSeq, Call-ID, From tag and To tag, and
serialise it back to bytes. Prints messages per second for each parser (best of
``--rounds``), the ratio, and whether the targets (>= 150,000 msg/s, >= 3x sippy) are met.

The targets are for the same two messages over and over. ``--distinct N`` also times N
INVITE/200 OK pairs that differ in everything that differs between calls (branch, tags,
Call-ID, CSeq number), so that no memo of such values can help: the closer figure to a
real mix of calls from one kind of peer.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from drachtio.sip import parse_message

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"User-Agent: bench/1.0\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    b"Supported: timer, 100rel\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bKnashds8;received=192.0.2.3\r\n"
    b"Via: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1"
    b";received=192.0.2.2\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

MESSAGES = (INVITE, OK)
EXPECTED = (
    ("z9hG4bK776asdhds", 314159, "INVITE", "a84b4c76e66710@pc33.atlanta.example.com",
     "1928301774", None),
    ("z9hG4bKnashds8", 314159, "INVITE", "a84b4c76e66710@pc33.atlanta.example.com",
     "1928301774", "a6c85cf"),
)

TARGET_RATE = 150_000
TARGET_RATIO = 3.0


def ours(data: bytes) -> tuple[object, ...]:
    msg = parse_message(data)
    cseq = msg.cseq
    out = (msg.top_via.branch, cseq.seq, cseq.method, msg.call_id, msg.from_.tag, msg.to.tag)
    msg.to_bytes()
    return out


def make_sippy() -> Callable[[bytes], tuple[object, ...]] | None:
    try:
        from sippy.SipRequest import SipRequest
        from sippy.SipResponse import SipResponse
    except ImportError:
        return None

    def sippy(data: bytes) -> tuple[object, ...]:
        text = data.decode("utf-8")
        msg = SipResponse(text) if text.startswith("SIP/") else SipRequest(text)
        seq, method = msg.getHFBody("cseq").getCSeq()
        out = (msg.getHFBody("via").getBranch(), seq, method, str(msg.getHFBody("call-id")),
               msg.getHFBody("from").getTag(), msg.getHFBody("to").getTag())
        msg.localStr()
        return out

    return sippy


def rate(work: Callable[[bytes], tuple[object, ...]], seconds: float, rounds: int) -> float:
    """Best messages/second over ``rounds`` timed runs of about ``seconds`` each."""
    a, b = MESSAGES
    n = 200
    start = time.perf_counter()
    for _ in range(n):
        work(a)
        work(b)
    per_iter = (time.perf_counter() - start) / n
    iters = max(100, int(seconds / per_iter))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iters):
            work(a)
            work(b)
        elapsed = time.perf_counter() - start
        best = max(best, 2 * iters / elapsed)
    return best


def distinct_pairs(n: int) -> list[bytes]:
    """``n`` INVITE/200 OK pairs whose per-call values are all different."""
    rnd = random.Random(4475)
    out: list[bytes] = []
    for _ in range(n):
        branch = b"z9hG4bK%x" % rnd.getrandbits(48)
        ftag, ttag = b"%x" % rnd.getrandbits(32), b"%x" % rnd.getrandbits(32)
        call_id = b"%x" % rnd.getrandbits(64)
        cseq = b"%d" % rnd.randrange(1, 2**31)
        for msg in (INVITE, OK):
            out.append(msg.replace(b"z9hG4bK776asdhds", branch)
                       .replace(b"z9hG4bKnashds8", branch).replace(b"1928301774", ftag)
                       .replace(b"a6c85cf", ttag).replace(b"a84b4c76e66710", call_id)
                       .replace(b"314159", cseq))
    return out


def rate_over(work: Callable[[bytes], tuple[object, ...]], msgs: list[bytes], seconds: float,
              rounds: int) -> float:
    """Like ``rate``, cycling through ``msgs``."""
    start = time.perf_counter()
    for data in msgs[:400]:
        work(data)
    per_msg = (time.perf_counter() - start) / min(400, len(msgs))
    laps = max(1, int(seconds / per_msg / len(msgs)))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(laps):
            for data in msgs:
                work(data)
        best = max(best, laps * len(msgs) / (time.perf_counter() - start))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of one timed run")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per parser (best kept)")
    ap.add_argument("--distinct", type=int, default=0, metavar="N",
                    help="also time N distinct INVITE/200 OK pairs (see the module docs)")
    args = ap.parse_args()

    for data, expected in zip(MESSAGES, EXPECTED, strict=True):
        got = ours(data)
        if got != expected:
            print(f"drachtio.sip read wrong values: {got} != {expected}")
            return 2
        if parse_message(data).to_bytes() != data:
            print("drachtio.sip did not serialise the message byte-identically")
            return 2
    sippy = make_sippy()
    if sippy is not None:
        for data, expected in zip(MESSAGES, EXPECTED, strict=True):
            got = sippy(data)
            if got != expected:
                print(f"sippy read different values: {got} != {expected}")
                return 2

    print(f"Python {platform.python_version()} on {platform.machine()}, one core; "
          f"work per message: parse, top Via branch, CSeq, Call-ID, From/To tags, serialise")
    print(f"messages: INVITE with SDP ({len(INVITE)} bytes) and 200 OK ({len(OK)} bytes, "
          f"3 Vias), alternating")
    our_rate = rate(ours, args.seconds, args.rounds)
    print(f"  drachtio.sip : {our_rate:>10,.0f} msg/s  ({1e6 / our_rate:.2f} us/msg)")
    ok = our_rate >= TARGET_RATE
    if sippy is None:
        print("  sippy        : not installed (pip install sippy) - ratio not measured")
    else:
        sippy_rate = rate(sippy, args.seconds, args.rounds)
        ratio = our_rate / sippy_rate
        print(f"  sippy        : {sippy_rate:>10,.0f} msg/s  ({1e6 / sippy_rate:.2f} us/msg)")
        print(f"  ratio        : {ratio:>10.2f}x")
        ok = ok and ratio >= TARGET_RATIO
        print(f"target ratio >= {TARGET_RATIO:.0f}x: {'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
    print(f"target rate >= {TARGET_RATE:,} msg/s: "
          f"{'MET' if our_rate >= TARGET_RATE else 'NOT MET'}")
    if args.distinct > 0:
        msgs = distinct_pairs(args.distinct)
        print(f"{len(msgs)} distinct messages (no repeated branch, tag, Call-ID or CSeq):")
        d_ours = rate_over(ours, msgs, args.seconds, args.rounds)
        print(f"  drachtio.sip : {d_ours:>10,.0f} msg/s  ({1e6 / d_ours:.2f} us/msg)")
        if sippy is not None:
            d_sippy = rate_over(sippy, msgs, args.seconds, args.rounds)
            print(f"  sippy        : {d_sippy:>10,.0f} msg/s  ({1e6 / d_sippy:.2f} us/msg)")
            print(f"  ratio        : {d_ours / d_sippy:>10.2f}x")
    print("all targets met" if ok else "not every target met (see above)")
    return 0  # 2 is kept for wrong parse results; misses are reported, not failed


if __name__ == "__main__":
    sys.exit(main())
