"""The `drachtio` command: `run` an app file in embedded mode, `server` delegation, help and
usage errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from drachtio.cli import CliError, find_srf, load_app, main
from drachtio.testing import UserAgent
from drachtio.testing.sipp import free_port

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "examples" / "quickstart" / "app.py"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("run", "server", "demo", "embedded"):
        assert word in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: drachtio" in capsys.readouterr().out


def test_server_delegates_to_drachtio_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["server", "--help"])
    assert info.value.code == 0
    assert "drachtio-server" in capsys.readouterr().out


def test_finding_the_srf(tmp_path: Path) -> None:
    mod, name = load_app(str(APP))
    assert name is None
    assert find_srf(mod) is mod.srf
    assert find_srf(mod, "uas") is mod.uas
    with pytest.raises(CliError, match="not an Srf"):
        find_srf(mod, "RING_SECONDS")
    two = tmp_path / "two.py"
    two.write_text("from drachtio import Srf\na = Srf()\nb = Srf()\n")
    with pytest.raises(CliError, match="several Srf"):
        find_srf(load_app(str(two))[0])
    one = tmp_path / "one.py"
    one.write_text("from drachtio import Srf\nmy_app = Srf()\n")
    m1, _ = load_app(f"{one}:my_app")
    assert find_srf(m1, "my_app") is m1.my_app and find_srf(m1) is m1.my_app
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    with pytest.raises(CliError, match="no Srf"):
        find_srf(load_app(str(none))[0])
    with pytest.raises(CliError, match="no such file"):
        load_app(str(tmp_path / "missing.py"))


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    none = tmp_path / "empty_app.py"
    none.write_text("x = 1\n")
    assert main(["run", str(none)]) == 2
    assert "no Srf" in capsys.readouterr().err
    assert main(["run", str(APP), "--contact", "bogus:uri"]) == 2
    assert main(["run", str(APP), "--contact", "sip:127.0.0.1:0",
                 "--dns-server", "dns.example"]) == 2
    assert "DNS server must be an IP address" in capsys.readouterr().err


async def test_run_serves_the_app_until_sigterm() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drachtio.cli", "run", str(APP), "--no-uvloop",
        "--contact", f"sip:127.0.0.1:{port};transport=udp", "--loglevel", "warning",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=str(REPO))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"app running" in line and str(port).encode() in line, line
        phone = await UserAgent.udp("pinger", proxy=("127.0.0.1", port))
        try:
            res = await phone.options(f"sip:ping@127.0.0.1:{port}")
        finally:
            phone.close()
        assert res.status == 200
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 10)
        rest = await proc.stdout.read()
        assert rc == 0 and b"stopped" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
