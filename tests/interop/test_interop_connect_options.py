"""The app connection (authenticate, routes) and OPTIONS handled by an npm drachtio-srf app."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from interop_harness import Engine, NodeApp, Sipp, header, sip_messages

pytestmark = [pytest.mark.node]


def test_handshake_reports_hostports(start_engine: Callable[..., Engine],
                                     start_app: Callable[..., NodeApp]) -> None:
    engine = start_engine()
    app = start_app("connect.js", engine, connected=False)
    ev = app.wait_connected()
    hostports = ev["hostport"].split(",")
    assert f"udp/127.0.0.1:{engine.sip_port}" in hostports, ev
    assert f"tcp/127.0.0.1:{engine.sip_port}" in hostports, ev
    assert ev["version"], ev


def test_wrong_secret_is_refused(start_engine: Callable[..., Engine],
                                 start_app: Callable[..., NodeApp]) -> None:
    engine = start_engine()
    bad = start_app("connect.js", engine, connected=False, secret="not-the-secret")
    ev = bad.wait_for("connect")
    assert ev["ok"] is False
    assert ev["message"] == "failed to authenticate to server"
    # the engine closes the connection after refusing
    bad.wait_for("close", timeout=5)
    # ...and keeps serving others
    assert engine.alive()
    good = start_app("connect.js", engine, connected=False)
    assert good.wait_connected()["ok"] is True


@pytest.mark.sipp
def test_options_answered_by_app(start_engine: Callable[..., Engine],
                                 start_app: Callable[..., NodeApp],
                                 start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("options.js", engine)
    pinger = start_sipp("uac-options.xml", remote=engine.sip_target, service="probe")
    res = pinger.result()
    assert res.rc == 0 and res.successful == 1, res.explain()
    seen = app.wait_for("options")
    assert seen["uri"].startswith("sip:probe@127.0.0.1")
    ok = sip_messages(res.messages, "SIP/2.0 200")[0]
    assert header(ok, "X-Options-App") == "yes"
    assert ";tag=" in (header(ok, "To") or "")
    assert (header(ok, "CSeq") or "").endswith("OPTIONS")


@pytest.mark.sipp
def test_options_round_robin_between_two_apps(start_engine: Callable[..., Engine],
                                              start_app: Callable[..., NodeApp],
                                              start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app1 = start_app("options.js", engine)
    app2 = start_app("options.js", engine)
    pinger = start_sipp("uac-options.xml", remote=engine.sip_target, calls=4,
                        extra=["-r", "20"])
    res = pinger.result()
    assert res.rc == 0 and res.successful == 4, res.explain()
    app1.collect(0.5)
    app2.collect(0.1)
    assert len(app1.named("options")) == 2 and len(app2.named("options")) == 2
