"""The CLI: ``python -m drachtio.server`` serves, prints where, stops cleanly on signals."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest
from enginekit import AppClient, UdpPeer, invite


async def start_cli(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drachtio.server", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        if not line:
            raise AssertionError("server exited before listening")
        if line.startswith("drachtio-server listening:"):
            return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_and_stops(sig: signal.Signals) -> None:
    proc, line = await start_cli("--contact", "sip:127.0.0.1:0;transport=udp,tcp", "--port", "0",
                                 "--secret", "cymru", "-l", "warning")
    try:
        m = re.search(r"sip udp/127\.0\.0\.1:(\d+) tcp/127\.0\.0\.1:(\d+); admin tcp "
                      r"127\.0\.0\.1:(\d+)", line)
        assert m, line
        sport, tport, aport = map(int, m.groups())
        assert sport == tport
        app = AppClient()
        await app.connect(aport)
        r = await app.authenticate("cymru")
        assert r.tokens[3] == "OK" and r.tokens[4] == f"udp/127.0.0.1:{sport},tcp/127.0.0.1:{sport}"
        await app.route("options")
        loop = asyncio.get_running_loop()
        _t, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
        peer.send(invite(peer.port, sport, method="OPTIONS", call_id="cli-1"), sport)
        ev = await app.next("sip")
        assert "cli-1" in ev.sip
        peer.close()
        await app.close()
    finally:
        proc.send_signal(sig)
        rc = await asyncio.wait_for(proc.wait(), 10)
    assert rc == 0


async def test_cli_bad_contact_exits_nonzero() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drachtio.server", "--contact", "http://nope", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode != 0 and b"sip:" in out


async def test_cli_config_file(tmp_path) -> None:
    cfg = tmp_path / "drachtio.conf.xml"
    cfg.write_text('<drachtio><admin port="0" secret="filesecret">127.0.0.1</admin>'
                   '<sip><contacts><contact>sip:127.0.0.1:0;transport=udp</contact></contacts>'
                   '</sip></drachtio>')
    proc, line = await start_cli("-f", str(cfg))
    try:
        m = re.search(r"admin tcp 127\.0\.0\.1:(\d+)", line)
        assert m and "tcp/" not in line.split(";")[0]
        app = AppClient()
        await app.connect(int(m.group(1)))
        r = await app.authenticate("filesecret")
        assert r.tokens[3] == "OK"
        await app.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
