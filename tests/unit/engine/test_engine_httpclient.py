"""The request handlers' HTTP client: bodies by length, chunks or close; redirects; errors."""

from __future__ import annotations

import asyncio

import pytest

from drachtio.engine.httpclient import HttpError, http_request


async def serve(responses: list[bytes]) -> tuple[asyncio.Server, str, list[bytes]]:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        n = next((int(x.split(b":")[1]) for x in head.split(b"\r\n")
                  if x.lower().startswith(b"content-length:")), 0)
        if n:
            seen.append(await reader.readexactly(n))
        writer.write(responses.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen


async def test_bodies_and_redirects() -> None:
    server, base, seen = await serve([
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.0 200 OK\r\n\r\nuntil close",
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ])
    try:
        r = await http_request("GET", base + "/a?x=1", headers={"Accept": "application/json"})
        assert (r.status, r.body) == (200, b"hello")
        assert seen[0].startswith(b"GET /a?x=1 HTTP/1.1\r\n") and b"Accept: application/json" in seen[0]
        r = await http_request("POST", base + "/p", body=b"INVITE ...")
        assert r.body == b"until close" and seen[2] == b"INVITE ..."
        r = await http_request("POST", base + "/a", body=b"again")
        assert r.status == 404 and r.url.endswith("/b")
        assert seen[-2].startswith(b"POST /b HTTP/1.1") and seen[-1] == b"again"  # 307: same
    finally:
        server.close()


async def test_errors() -> None:
    server, base, _ = await serve([b"garbage\r\n\r\n"])
    try:
        with pytest.raises(HttpError):
            await http_request("GET", base)
    finally:
        server.close()
    with pytest.raises(HttpError):
        await http_request("GET", base)  # nobody listens any more
    with pytest.raises(HttpError):
        await http_request("GET", "ftp://127.0.0.1/")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    slow = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        with pytest.raises(TimeoutError):
            await http_request("GET", f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}/",
                               timeout=0.2)
    finally:
        slow.close()
