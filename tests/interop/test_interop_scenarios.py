"""Self-check of the SIPp scenarios in tests/scenarios: each UAC scenario against a SIPp peer.

These need no engine. They prove the scenarios themselves are right, so a failure in an
engine test points at the engine, not at the scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from interop_harness import SCENARIOS, Sipp

pytestmark = pytest.mark.sipp

SELFCHECK = Path(__file__).parent / "selfcheck"

# (uac scenario, uas scenario, uac extra args, uas extra args)
PAIRS: list[tuple[str, str, list[str], list[str]]] = [
    ("uac.xml", "uas.xml", [], []),
    ("uac-nosdp.xml", "uas.xml", [], []),
    ("uac-cancel.xml", "uas-cancel.xml", [], []),
    ("uac-expect-404.xml", "uas-404.xml", [], []),
    ("uac-expect-480.xml", "reject:480 Temporarily Unavailable", [], []),
    ("uac-expect-503.xml", "reject:503 Service Unavailable", [], []),
    ("uac-expect-603.xml", "reject:603 Decline", [], []),
    ("uac-prack.xml", "uas-prack.xml", [], []),
    ("uac-delayed-ack.xml", "uas-reinvite.xml", [], []),
    ("uac-expect-bye.xml", "uas-hangup.xml", [], []),
    ("uac-options.xml", "uas-options.xml", [], []),
    ("uac.xml", "uas-update-with-sdp.xml", ["-aa"], []),
    ("uac-register-auth.xml", "uas-auth-register.xml", ["-au", "foo", "-ap", "bar"], []),
    ("uac-drop-all-200.xml", str(SELFCHECK / "peer-bye-without-ack.xml"), [], []),
    ("uac-recv-reinvite.xml", str(SELFCHECK / "peer-reinvite-then-bye.xml"), [], []),
    ("uac-send-reinvite-no-sdp.xml", str(SELFCHECK / "peer-late-offer-reinvite.xml"), [], []),
    ("uac-subscribe.xml", str(SELFCHECK / "peer-notify.xml"), [], []),
]


def _ids(pair: tuple[str, str, list[str], list[str]]) -> str:
    return f"{Path(pair[0]).stem}--{Path(pair[1]).stem.replace(' ', '-')}"


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_scenario_pair(pair: tuple[str, str, list[str], list[str]],
                       start_sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    uac_xml, uas_xml, uac_extra, uas_extra = pair
    if uas_xml.startswith("reject:"):
        # SIPp reads status codes when it loads a scenario, so make a uas-404 twin
        status = uas_xml.split(":", 1)[1]
        twin = tmp_path / f"uas-{status.split()[0]}.xml"
        twin.write_text((SCENARIOS / "uas-404.xml").read_text().replace("404 Not Found", status))
        uas_xml = str(twin)
    uas = start_sipp(uas_xml, timeout=15, extra=uas_extra)
    uac = start_sipp(uac_xml, remote=f"127.0.0.1:{uas.port}", timeout=15, pause_ms=100,
                     extra=uac_extra)
    uac_res = uac.result()
    uas_res = uas.result(timeout=10)
    assert uac_res.rc == 0 and uac_res.successful == 1, uac_res.explain()
    assert uas_res.rc == 0 and uas_res.successful == 1, uas_res.explain()


def test_register_with_wrong_password_fails(start_sipp: Callable[..., Sipp]) -> None:
    """verifyauth really checks the credentials: a wrong password gets 403, both sides fail."""
    uas = start_sipp("uas-auth-register.xml", timeout=10)
    uac = start_sipp("uac-register-auth.xml", remote=f"127.0.0.1:{uas.port}", timeout=10,
                     extra=["-au", "foo", "-ap", "wrong"])
    uac_res = uac.result()
    uas_res = uas.result(timeout=10)
    assert uac_res.rc != 0 and uac_res.failed == 1, uac_res.explain()
    assert "403" in uac_res.messages
    assert uas_res.rc != 0 and uas_res.failed == 1, uas_res.explain()


def test_uac_proxy_requires_record_route(start_sipp: Callable[..., Sipp]) -> None:
    """uac-proxy.xml fails when the 200 carries no Record-Route (no proxy on the path)."""
    uas = start_sipp("uas.xml", timeout=10)
    uac = start_sipp("uac-proxy.xml", remote=f"127.0.0.1:{uas.port}", timeout=10)
    res = uac.result()
    assert res.rc != 0 and res.failed == 1, res.explain()
    assert res.counter("FailedRegexpHdrNotFound(C)") == 1 or \
        res.counter("FailedRegexpDoesntMatch(C)") == 1, res.explain()
