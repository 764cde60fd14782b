"""A small HTTP/1.1 client on asyncio streams, for request handlers (wire-protocol.md 6.2).

The engine asks an HTTP request handler one question per new request and reads a short JSON
answer; that needs GET/POST, redirects, chunked or length-delimited bodies, https with or
without certificate checks, and hard timeouts - not a client library. One connection per
request (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urljoin, urlsplit

__all__ = ["HttpError", "HttpResponse", "http_request"]

_MAX_BODY = 1024 * 1024
_MAX_HEADER_LINES = 100
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(Exception):
    """The request could not be made or the answer could not be read."""


class HttpResponse:
    __slots__ = ("body", "headers", "reason", "status", "url")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes,
                 url: str) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body
        self.url = url


def _ssl_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    verify_peer: bool = True,
    connect_timeout: float = 2.0,
    timeout: float = 3.0,
    max_redirects: int = 5,
) -> HttpResponse:
    """``method`` ``url``; follows redirects (303 turns into GET). Raises ``HttpError`` (and
    ``TimeoutError`` past ``timeout`` seconds in total)."""
    async def run() -> HttpResponse:
        nonlocal method, url, body
        for _ in range(max_redirects + 1):
            resp = await _once(method, url, body, headers or {}, verify_peer, connect_timeout)
            location = resp.headers.get("location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            url = urljoin(url, location)
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise HttpError(f"more than {max_redirects} redirects")

    return await asyncio.wait_for(run(), timeout)


async def _once(method: str, url: str, body: bytes | None, headers: dict[str, str],
                verify: bool, connect_timeout: float) -> HttpResponse:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url}")
    host = parts.hostname
    port = parts.port or (443 if scheme == "https" else 80)
    ctx = _ssl_context(verify) if scheme == "https" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx,
                                    server_hostname=host if ctx is not None else None),
            connect_timeout)
    except (OSError, ssl.SSLError) as exc:
        raise HttpError(f"cannot connect to {host}:{port}: {exc}") from None
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        hostport = host if parts.port is None else f"{host}:{parts.port}"
        if ":" in host and not host.startswith("["):
            hostport = f"[{host}]" + (f":{parts.port}" if parts.port else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {hostport}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()
        return await _read_response(reader, url, method == "HEAD")
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as exc:
        raise HttpError(f"bad answer from {url}: {exc}") from None
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader, url: str, head: bool) -> HttpResponse:
    status_line = (await reader.readline()).decode("latin-1").strip()
    proto, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not proto.startswith("HTTP/") or not code.isdigit():
        raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    else:
        raise HttpError("too many header lines")
    status = int(code)
    if head or status in (204, 304) or 100 <= status < 200:
        return HttpResponse(status, reason, headers, b"", url)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        size_total = 0
        while True:
            size_line = (await reader.readline()).decode("latin-1").split(";")[0].strip()
            size = int(size_line, 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            size_total += size
            if size_total > _MAX_BODY:
                raise HttpError("answer too large")
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        return HttpResponse(status, reason, headers, b"".join(chunks), url)
    length = headers.get("content-length")
    if length is not None:
        n = int(length)
        if n > _MAX_BODY:
            raise HttpError("answer too large")
        return HttpResponse(status, reason, headers, await reader.readexactly(n), url)
    data = await reader.read(_MAX_BODY + 1)
    if len(data) > _MAX_BODY:
        raise HttpError("answer too large")
    return HttpResponse(status, reason, headers, data, url)
