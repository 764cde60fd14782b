"""The per-call fast paths keep the behaviour of the plain code they replace."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import pytest

from drachtio.srf.emitter import spawn
from drachtio.srf.message import format_request, format_response, normalize_headers
from drachtio.srf.request import Request
from drachtio.srf.response import IncomingResponse
from drachtio.wire.codec import ControlMessage

INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


def _ok(status: int = 200) -> str:
    return (
        f"SIP/2.0 {status} Whatever\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\n"
        "To: <sip:bob@example.com>;tag=2\r\n"
        "Call-ID: c1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    )


def _sent_request() -> Request:
    req = Request(ControlMessage(["id", "sip"], INVITE), source="application")
    req._init_sent(asyncio.get_running_loop())
    return req


def _response(req: Request, status: int = 200) -> IncomingResponse:
    return IncomingResponse(ControlMessage(["id", "sip"], _ok(status)), req)


# -- Request.response(): one waiter per caller ----------------------------------------------

async def test_every_response_waiter_gets_the_final_response() -> None:
    req = _sent_request()
    first = asyncio.ensure_future(req.response())
    second = asyncio.ensure_future(req.response())
    await asyncio.sleep(0)
    res = _response(req)
    req._deliver(res, lambda *_: None)
    assert await first is res
    assert await second is res
    assert await req.response() is res  # already final: no waiting
    assert req.final_response is res


async def test_cancelling_one_waiter_leaves_the_others_and_the_outcome() -> None:
    req = _sent_request()
    gone = asyncio.ensure_future(req.response())
    kept = asyncio.ensure_future(req.response())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert gone.cancelled()
    res = _response(req, 486)
    req._deliver(res, lambda *_: None)
    assert await kept is res
    assert req.final_response is res


async def test_provisional_responses_do_not_wake_the_waiters() -> None:
    req = _sent_request()
    waiter = asyncio.ensure_future(req.response())
    await asyncio.sleep(0)
    req._deliver(_response(req, 180), lambda *_: None)
    await asyncio.sleep(0)
    assert not waiter.done()
    final = _response(req, 200)
    req._deliver(final, lambda *_: None)
    assert await waiter is final


async def test_a_failure_reaches_every_waiter() -> None:
    req = _sent_request()
    waiters = [asyncio.ensure_future(req.response()) for _ in range(2)]
    await asyncio.sleep(0)
    req._fail(ConnectionError("lost"))
    for w in waiters:
        with pytest.raises(ConnectionError, match="lost"):
            await w
    with pytest.raises(ConnectionError, match="lost"):
        await req.response()


async def test_response_of_a_received_request_is_refused() -> None:
    req = Request(ControlMessage(["id", "sip"], INVITE))
    with pytest.raises(RuntimeError, match="application sent"):
        await req.response()


# -- normalize_headers: the cached name check and the str fast path ---------------------------

def test_valid_names_are_remembered_but_invalid_ones_still_refused() -> None:
    assert normalize_headers({"X-Fast": "1"}) == [("X-Fast", "1")]
    assert normalize_headers([("X-Fast", "2")]) == [("X-Fast", "2")]
    with pytest.raises(ValueError, match="invalid header name"):
        normalize_headers({"X Fast": "1"})
    with pytest.raises(ValueError, match="invalid header name"):
        normalize_headers([(["X-Fast"], "1")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="invalid header name"):
        normalize_headers([(3, "1")])  # type: ignore[list-item]


def test_every_headers_shape_gives_the_same_lines() -> None:
    want = [("X-A", "1"), ("X-B", "2"), ("X-B", "3"), ("X-C", "4")]
    as_dict = {"X-A": "1", "X-B": ["2", "3"], "X-C": 4}
    assert normalize_headers(as_dict) == want
    assert normalize_headers(OrderedDict(as_dict)) == want  # a Mapping, not a dict
    assert normalize_headers(want) == want
    assert normalize_headers(tuple(want)) == want
    assert normalize_headers(None) == []
    assert normalize_headers([]) == []


def test_header_values_are_still_checked() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        normalize_headers({"X-A": "1\r\nX-Injected: yes"})
    with pytest.raises(ValueError, match="CR or LF"):
        normalize_headers([("X-A", "1\n")])
    with pytest.raises(TypeError, match="must be a str or int"):
        normalize_headers({"X-A": True})
    with pytest.raises(TypeError, match="must be a str or int"):
        normalize_headers({"X-A": 1.5})
    with pytest.raises(TypeError, match="dict of name"):
        normalize_headers("X-A: 1")  # type: ignore[arg-type]


# -- the text sent to the engine --------------------------------------------------------------

def test_our_content_length_replaces_the_callers_and_counts_utf8_bytes() -> None:
    text = format_request(
        "MESSAGE", "sip:b@example.com",
        [("Content-Length", "99"), ("l", "98"), ("X-A", "1")], "h\u00e9",
    )
    assert text == "MESSAGE sip:b@example.com SIP/2.0\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nh\u00e9"
    text = format_response(486, "Busy Here", [("CONTENT-LENGTH", "1")], "")
    assert text == "SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n"


# -- spawn with the loop given ----------------------------------------------------------------

async def test_spawn_on_a_given_loop_names_the_task_and_logs_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> None:
        raise RuntimeError("kaput")

    task = spawn(boom(), name="named", loop=asyncio.get_running_loop())
    assert task.get_name() == "named"
    with caplog.at_level(logging.ERROR, logger="drachtio.srf"):
        with pytest.raises(RuntimeError):
            await task
        await asyncio.sleep(0)
    assert any("named" in r.getMessage() for r in caplog.records)
