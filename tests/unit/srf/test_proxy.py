"""proxy_request against the fake engine: the ``proxy`` command and the result it builds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from srf_fake_engine import FakeEngine, invite_text, join_sip, split_sip

from drachtio.srf import EngineError, NotConnectedError, Srf
from drachtio.srf.proxy import (
    ProxyResult,
    normalize_destinations,
    proxy_request,
    timeout_token,
)
from drachtio.wire.codec import ControlMessage, new_id


class ProxyEngine:
    """Captures ``proxy`` commands; the test answers them like the engine would."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.commands: list[tuple[Any, ControlMessage]] = []
        engine.on_command = self._hook

    def _hook(self, conn: Any, msg: ControlMessage) -> bool:
        if msg.tokens[1] == "proxy":
            self.commands.append((conn, msg))
            return True
        return False

    async def command(self) -> tuple[Any, ControlMessage]:
        await self.engine.wait_until(lambda: self.commands)
        return self.commands[-1]

    @staticmethod
    def report(conn: Any, cmd: ControlMessage, status: int, reason: str, host: str, port: int,
               tag: str = "t1") -> None:
        """One final response from a target (``OK|network|...|continue``)."""
        text = join_sip(f"SIP/2.0 {status} {reason}", [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1"),
            ("From", "<sip:a@127.0.0.1>;tag=ptag1"), ("To", f"<sip:b@{host}>;tag={tag}"),
            ("Call-ID", "call-1"), ("CSeq", "1 INVITE")], "")
        conn.send(ControlMessage(
            [new_id(), "response", cmd.tokens[0], "OK", "network", str(len(text)), "udp",
             host, str(port), "12:00:00.000000", "", "", "continue"], text))

    @staticmethod
    def done(conn: Any, cmd: ControlMessage) -> None:
        conn.send(ControlMessage([new_id(), "response", cmd.tokens[0], "OK", "done"]))

    @staticmethod
    def nok(conn: Any, cmd: ControlMessage, reason: str) -> None:
        conn.send(ControlMessage([new_id(), "response", cmd.tokens[0], "NOK", reason]))


def handle(app: Srf, fn: Any, method: str = "invite") -> asyncio.Future[Any]:
    """Register ``fn(req, res)`` for ``method``; its result (or error) lands in the future."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(req, res):
        try:
            out = fn(req, res)
            if asyncio.isfuture(out) or asyncio.iscoroutine(out):
                out = await out
            fut.set_result(out)
        except Exception as exc:
            fut.set_exception(exc)

    app.use(method, handler)
    return fut


async def test_proxy_command_format(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    got = handle(app, lambda req, res: proxy_request(
        app, req, ["sip:a@10.0.0.1", "10.0.0.2:5062"], record_route=True,
        forking="simultaneous", follow_redirects=True, provisional_timeout="2s",
        final_timeout=1.5, headers={"X-Proxied": "yes", "Subject": "p"}))
    txn = engine.deliver_request(invite_text("call-1", body="v=0\r\n"))
    conn, cmd = await pe.command()
    assert cmd.tokens[1:] == ["proxy", txn, "remainInDialog", "fullResponse", "followRedirects",
                              "simultaneous", "2s", "1500ms", "sip:a@10.0.0.1",
                              "sip:10.0.0.2:5062"]
    start, headers, body = split_sip(cmd.sip or "")
    assert start == "INVITE sip:a@10.0.0.1 SIP/2.0"
    assert ("X-Proxied", "yes") in headers and ("Subject", "p") in headers and body == ""
    pe.report(conn, cmd, 200, "OK", "10.0.0.1", 5060)
    pe.done(conn, cmd)
    result = await asyncio.wait_for(got, 3)
    assert isinstance(result, ProxyResult) and result.connected


async def test_defaults_serial_to_request_uri(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    handle(app, lambda req, res: proxy_request(app, req))
    txn = engine.deliver_request(invite_text("call-1"))
    _conn, cmd = await pe.command()
    assert cmd.tokens[1:] == ["proxy", txn, "", "fullResponse", "", "serial", "", "",
                              "sip:callee@127.0.0.1:5060"]


@pytest.mark.parametrize(("forking", "token"), [
    ("sequential", "serial"), ("serial", "serial"), ("simultaneous", "simultaneous"),
    ("parallel", "simultaneous"), ("PARALLEL", "simultaneous")])
async def test_forking_spellings(app: Srf, engine: FakeEngine, forking: str, token: str
                                 ) -> None:
    pe = ProxyEngine(engine)
    handle(app, lambda req, res: proxy_request(app, req, "sip:x@10.0.0.1", forking=forking))
    engine.deliver_request(invite_text("call-1"))
    _conn, cmd = await pe.command()
    assert cmd.tokens[6] == token


@pytest.mark.parametrize("alias", ["record_route", "remain_in_dialog", "path"])
async def test_record_route_aliases(app: Srf, engine: FakeEngine, alias: str) -> None:
    pe = ProxyEngine(engine)
    handle(app, lambda req, res: proxy_request(app, req, "sip:x@10.0.0.1", **{alias: True}))
    engine.deliver_request(invite_text("call-1"))
    _conn, cmd = await pe.command()
    assert cmd.tokens[3] == "remainInDialog"


async def test_results_grouped_by_target(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    got = handle(app, lambda req, res: proxy_request(
        app, req, ["sip:a@10.0.0.1", "sip:b@10.0.0.2"], forking="parallel"))
    engine.deliver_request(invite_text("call-1"))
    conn, cmd = await pe.command()
    pe.report(conn, cmd, 302, "Moved", "10.0.0.1", 5060, tag="x1")
    pe.report(conn, cmd, 486, "Busy Here", "10.0.0.2", 5060, tag="y1")
    pe.report(conn, cmd, 480, "Temporarily Unavailable", "10.0.0.1", 5060, tag="x2")
    pe.report(conn, cmd, 503, "Service Unavailable", "10.0.0.1", 5070, tag="z1")
    pe.done(conn, cmd)
    result: ProxyResult = await asyncio.wait_for(got, 3)
    assert not result.connected and result.final_status == 503
    assert [(t.address, t.port, [m.status for m in t.msgs]) for t in result.responses] == [
        ("10.0.0.1", 5060, [302, 480]), ("10.0.0.2", 5060, [486]), ("10.0.0.1", 5070, [503])]
    assert result.final_response is not None
    assert result.final_response.msg.get("To") == "<sip:b@10.0.0.1>;tag=z1"
    assert result.final_response.time == "12:00:00.000000"


async def test_no_responses_at_all(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    got = handle(app, lambda req, res: proxy_request(app, req, "sip:x@10.0.0.1"))
    engine.deliver_request(invite_text("call-1"))
    conn, cmd = await pe.command()
    pe.done(conn, cmd)
    result: ProxyResult = await asyncio.wait_for(got, 3)
    assert not result.connected and result.final_status is None and result.responses == []


async def test_engine_refusal_raises(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    got = handle(app, lambda req, res: proxy_request(app, req, "sip:x@10.0.0.1"))
    engine.deliver_request(invite_text("call-1"))
    conn, cmd = await pe.command()
    pe.nok(conn, cmd, "Rejected with 483 Too Many Hops due to Max-Forwards value of 0")
    with pytest.raises(EngineError, match="483"):
        await asyncio.wait_for(got, 3)


async def test_connection_lost_fails_the_proxy(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    started: asyncio.Future[asyncio.Future[ProxyResult]] = (
        asyncio.get_running_loop().create_future())

    def go(req, res):
        started.set_result(proxy_request(app, req, "sip:x@10.0.0.1"))

    app.invite(go)
    engine.deliver_request(invite_text("call-1"))
    await pe.command()
    fut = await started
    await engine.stop()
    with pytest.raises(NotConnectedError):
        await asyncio.wait_for(fut, 3)


async def test_sync_handler_fire_and_forget(app: Srf, engine: FakeEngine) -> None:
    """A plain function may proxy without awaiting; nothing answers the request after it."""
    pe = ProxyEngine(engine)
    app.invite(lambda req, res: proxy_request(app, req, "sip:x@10.0.0.1"))
    engine.deliver_request(invite_text("call-1"))
    conn, cmd = await pe.command()
    await asyncio.sleep(0.05)
    assert not [s for s in engine.sent if s.kind == "response"]  # no default 404
    pe.report(conn, cmd, 200, "OK", "10.0.0.1", 5060)
    pe.done(conn, cmd)
    await asyncio.sleep(0.02)
    assert app.idle


async def test_proxied_request_cannot_be_answered(app: Srf, engine: FakeEngine) -> None:
    ProxyEngine(engine)
    errors: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_invite(req, res):
        proxy_request(app, req, "sip:x@10.0.0.1")
        try:
            await res.send(200)
        except RuntimeError as exc:
            errors.set_result(str(exc))
        with pytest.raises(ValueError, match="already answered"):
            proxy_request(app, req, "sip:y@10.0.0.1")

    app.invite(on_invite)
    engine.deliver_request(invite_text("call-1"))
    assert "already sent" in await asyncio.wait_for(errors, 3)


async def test_non_invite_requests_can_be_proxied(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    handle(app, lambda req, res: proxy_request(app, req, "sip:reg@10.0.0.1", path=True),
           method="register")
    engine.deliver_request(invite_text("call-1", method="REGISTER"))
    _conn, cmd = await pe.command()
    assert (cmd.sip or "").startswith("REGISTER sip:reg@10.0.0.1 SIP/2.0")


def test_timeout_token() -> None:
    assert timeout_token(None, "t") == ""
    assert timeout_token("2s", "t") == "2s"
    assert timeout_token("1500ms", "t") == "1500ms"
    assert timeout_token(2, "t") == "2s"
    assert timeout_token(0.25, "t") == "250ms"
    for bad in ("2 s", "2sec", "-1s", "s"):
        with pytest.raises(ValueError):
            timeout_token(bad, "t")
    with pytest.raises(ValueError):
        timeout_token(0, "t")
    with pytest.raises(TypeError):
        timeout_token(True, "t")  # type: ignore[arg-type]


async def test_argument_validation(app: Srf, engine: FakeEngine) -> None:
    ProxyEngine(engine)
    out: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    async def on_invite(req, res):
        errs = []
        bad: list[tuple[Any, dict[str, Any]]] = [
            (123, {}), ([], {}), (["sip:a|b"], {}), (["sip:a b"], {}), ([None], {}),
            ("sip:x", {"forking": "random"}), ("sip:x", {"forking": None}),
            ("sip:x", {"record_route": "yes"}), ("sip:x", {"provisional_timeout": "soon"}),
            ("sip:x", {"final_timeout": [1]}), ("sip:x", {"headers": "X: y"}),
        ]
        for dest, kw in bad:
            try:
                proxy_request(app, req, dest, **kw)
            except (TypeError, ValueError) as exc:
                errs.append(type(exc).__name__)
        with pytest.raises(TypeError):
            proxy_request(app, "not a request", "sip:x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="another Srf"):
            proxy_request(Srf(), req, "sip:x")
        out.set_result(errs)
        res.send(480)

    app.invite(on_invite)
    engine.deliver_request(invite_text("call-1"))
    assert len(await asyncio.wait_for(out, 3)) == 11


def test_normalize_destinations() -> None:
    class R:
        uri = "sip:ruri@h"

    req: Any = R()
    assert normalize_destinations(None, req) == ["sip:ruri@h"]
    assert normalize_destinations("10.0.0.1", req) == ["sip:10.0.0.1"]
    assert normalize_destinations(["sips:a@h", "tel:+1555", "b@h:5070"], req) == [
        "sips:a@h", "tel:+1555", "sip:b@h:5070"]


async def test_srf_method_and_req_proxy_forms(app: Srf, engine: FakeEngine) -> None:
    pe = ProxyEngine(engine)
    got = handle(app, lambda req, res: req.proxy(["sip:a@10.0.0.1"], remain_in_dialog=True))
    txn = engine.deliver_request(invite_text("call-1"))
    conn, cmd = await pe.command()
    assert cmd.tokens[2:4] == [txn, "remainInDialog"]
    pe.report(conn, cmd, 200, "OK", "10.0.0.1", 5060)
    pe.done(conn, cmd)
    assert (await asyncio.wait_for(got, 3)).connected
    app.use("register", lambda req, res: app.proxy_request(req, "10.0.0.3"))
    engine.deliver_request(invite_text("call-2", method="REGISTER"))
    await engine.wait_until(lambda: len(pe.commands) == 2)
    assert pe.commands[-1][1].tokens[-1] == "sip:10.0.0.3"
