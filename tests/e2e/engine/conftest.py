"""Fixtures for engine end-to-end tests: an engine on ephemeral loopback ports, app clients
and UDP peers (helpers in enginekit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from enginekit import SECRET, AppClient, UdpPeer

from drachtio.engine import Engine, EngineConfig


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[..., Any]]:
    engines: list[Engine] = []

    async def factory(**overrides: Any) -> Engine:
        cfg = EngineConfig(**{
            "contacts": ["sip:127.0.0.1:0;transport=udp,tcp"],
            "admin_host": "127.0.0.1",
            "admin_port": 0,
            "secret": SECRET,
            **overrides,
        })
        eng = Engine(cfg)
        await eng.start()
        engines.append(eng)
        return eng

    yield factory
    for eng in engines:
        await eng.stop()


@pytest.fixture
async def engine(make_engine: Callable[..., Any]) -> Engine:
    return await make_engine()  # type: ignore[no-any-return]


@pytest.fixture
async def make_app() -> AsyncIterator[Callable[..., Any]]:
    apps: list[AppClient] = []

    async def factory(engine: Engine, *verbs: str, secret: str = SECRET) -> AppClient:
        app = AppClient()
        assert engine.admin_port is not None
        await app.connect(engine.admin_port)
        r = await app.authenticate(secret)
        if secret == SECRET:
            assert r.tokens[3] == "OK", r.tokens
        await app.route(*verbs)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.close()


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[..., Any]]:
    peers: list[UdpPeer] = []

    async def factory() -> UdpPeer:
        loop = asyncio.get_running_loop()
        _t, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
        peers.append(peer)
        return peer

    yield factory
    for p in peers:
        p.close()


@pytest.fixture
async def peer(make_peer: Callable[..., Any]) -> UdpPeer:
    return await make_peer()  # type: ignore[no-any-return]
