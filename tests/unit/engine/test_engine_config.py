"""Configuration: contacts, XML file, environment, CLI precedence; timers; ids."""

from __future__ import annotations

import asyncio
import re

import pytest

from drachtio.engine.config import (
    EngineConfig,
    RequestHandler,
    apply_env,
    load_xml_config,
    parse_contact,
    parse_duration,
)
from drachtio.engine.ids import initial_cseq, new_branch, new_call_id, new_id, new_tag, wire_time
from drachtio.engine.timers import TimerHeap
from drachtio.server import build_config, parse_args


def test_parse_contact() -> None:
    c = parse_contact("sip:127.0.0.1:5060;transport=udp,tcp")
    assert (c.host, c.port, c.transports, c.bind_host) == ("127.0.0.1", 5060, ("udp", "tcp"),
                                                           "127.0.0.1")
    c = parse_contact("sip:*;transport=tcp")
    assert (c.bind_host, c.port, c.transports) == ("0.0.0.0", 5060, ("tcp",))
    assert parse_contact("sip:[::1]:5070").bind_host == "::1"
    assert parse_contact("sip:10.0.0.1").transports == ("udp", "tcp")
    for bad in ("", "http://x", "sip:", "sip:1.2.3.4:99999", "sip:h:x"):
        with pytest.raises(ValueError):
            parse_contact(bad)


def test_parse_duration() -> None:
    assert parse_duration("5s") == 5 and parse_duration("1500ms") == 1.5
    assert parse_duration("") is None and parse_duration("2") == 2
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_engine_config_validation() -> None:
    with pytest.raises(TypeError):
        EngineConfig(contacts="sip:1.2.3.4")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EngineConfig(t1=0)
    cfg = EngineConfig(t1=0.1)
    assert cfg.t1x64 == pytest.approx(6.4) and cfg.version.startswith("v0.9.10")


def test_xml_config(tmp_path) -> None:
    p = tmp_path / "drachtio.conf.xml"
    p.write_text("""<drachtio>
      <admin port="9123" secret="s3cret">127.0.0.2</admin>
      <sip><contacts><contact external-ip="1.2.3.4">sip:127.0.0.1:5080;transport=udp</contact>
      </contacts><timers><t1>250</t1><t1x64>16000</t1x64></timers>
      <outbound-proxy>sip:10.0.0.1</outbound-proxy></sip>
      <cdrs>false</cdrs><logging><loglevel>debug</loglevel></logging></drachtio>""")
    out = load_xml_config(str(p))
    assert out["admin_port"] == 9123 and out["secret"] == "s3cret" and out["admin_host"] == "127.0.0.2"
    assert out["contacts"] == ["sip:127.0.0.1:5080;transport=udp"]
    assert out["contact_specs"][0].external_ip == "1.2.3.4"
    assert out["t1"] == 0.25 and out["timer_h"] == 16.0 and out["cdrs"] is False
    assert out["loglevel"] == "debug" and out["outbound_proxy"] == "sip:10.0.0.1"
    with pytest.raises(ValueError):
        load_xml_config(str(tmp_path / "missing.xml"))


def test_cli_precedence(tmp_path) -> None:
    p = tmp_path / "c.xml"
    p.write_text('<drachtio><admin port="1111" secret="file">127.0.0.1</admin></drachtio>')
    env = {"DRACHTIO_SECRET": "env", "DRACHTIO_ADMIN_TCP_PORT": "2222"}
    args = parse_args(["-f", str(p), "-c", "sip:127.0.0.1:5070;transport=udp", "-x", "9.9.9.9",
                       "--secret", "cli", "--t1", "100"])
    cfg = build_config(args, env)
    assert cfg.secret == "cli" and cfg.admin_port == 2222 and cfg.t1 == 0.1
    spec = cfg.contact_list()[0]
    assert spec.port == 5070 and spec.external_ip == "9.9.9.9"
    assert apply_env({"DRACHTIO_LOGLEVEL": "debug"}) == {"loglevel": "debug"}


def test_cli_request_handlers_and_overload() -> None:
    cfg = build_config(parse_args(["--http-handler", "tcp://127.0.0.1:9031"]), {})
    assert cfg.request_handlers == {"*": RequestHandler("tcp://127.0.0.1:9031")}
    cfg = build_config(parse_args(["--http-handler", "http://h/x", "--http-method", "post"]), {})
    assert cfg.request_handlers["*"].http_method == "POST"
    env = {"DRACHTIO_HTTP_HANDLER_URI": "tcp://10.0.0.1:9000"}
    cfg = build_config(parse_args([]), env)
    assert cfg.request_handlers == {"*": RequestHandler("tcp://10.0.0.1:9000")}
    assert cfg.overload_delay == 0.2 and cfg.overload_max_pending == 5000
    cfg = build_config(parse_args(["--overload-delay", "0", "--overload-max-pending", "0"]), {})
    assert cfg.overload_delay is None and cfg.overload_max_pending is None
    cfg = build_config(parse_args(["--overload-delay", "150", "--overload-max-pending", "10"]), {})
    assert cfg.overload_delay == 0.15 and cfg.overload_max_pending == 10
    with pytest.raises(ValueError):
        build_config(parse_args(["--http-handler", "udp://x:1"]), {})
    with pytest.raises(ValueError):
        EngineConfig(overload_delay=-1)
    with pytest.raises(TypeError):
        EngineConfig(request_handlers={"INVITE": "tcp://x:1"})  # type: ignore[dict-item]
    assert EngineConfig(request_handlers={"invite": RequestHandler("tcp://x:1")}
                        ).request_handlers.keys() == {"INVITE"}


def test_ids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
               for i in list(ids)[:10])
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", new_call_id())
    assert re.fullmatch(r"[A-Za-z0-9]{13}", new_tag())
    assert new_branch().startswith("z9hG4bK") and len(new_branch()) == 20
    assert 0 < initial_cseq() < 2**27
    assert wire_time(0.5) == "00:00:00.500000"


async def test_timer_heap_order_cancel_and_early_wake() -> None:
    loop = asyncio.get_running_loop()
    heap = TimerHeap(loop)
    fired: list[tuple[str, float]] = []
    now = loop.time()
    heap.call_at(now + 0.03, lambda t: fired.append(("b", t)))
    heap.call_at(now + 0.01, lambda t: fired.append(("a", t)))
    c = heap.call_at(now + 0.02, lambda t: fired.append(("c", t)))
    c.cancel()

    # a callback that re-arms for its own deadline must not spin (it is handed >= when)
    calls = []

    def rearm(t: float, when: float = now + 0.015) -> None:
        calls.append(t)
        if t < when:
            heap.call_at(when, rearm)

    heap.call_at(now + 0.015, rearm)
    await asyncio.sleep(0.08)
    assert [n for n, _ in fired] == ["a", "b"]
    assert all(t >= now + 0.01 for _, t in fired)
    assert len(calls) == 1
    heap.close()


async def test_timer_heap_compacts_cancelled() -> None:
    heap = TimerHeap(asyncio.get_running_loop())
    entries = [heap.call_later(100, lambda t: None) for _ in range(10000)]
    for e in entries:
        e.cancel()
    heap.call_later(100, lambda t: None)
    assert len(heap) < 10
    heap.close()
