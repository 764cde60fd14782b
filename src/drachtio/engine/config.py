"""Engine configuration: the dataclass, SIP contact parsing, XML file and environment variables.

The option names follow the C++ drachtio server (wire-protocol.md section 7) so an operator's
``drachtio.conf.xml`` and ``DRACHTIO_*`` variables carry over; only the subset the engine
implements is read, the rest is ignored with a log line.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "SUPPORTED_TRANSPORTS",
    "ContactSpec",
    "EngineConfig",
    "RequestHandler",
    "apply_env",
    "load_xml_config",
    "parse_contact",
    "parse_duration",
]

log = logging.getLogger("drachtio.engine")

#: Transports the engine can listen on (SCTP contacts are refused with a clear error).
SUPPORTED_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")

DEFAULT_CONTACT = "sip:*:5060;transport=udp,tcp"


@dataclass(frozen=True, slots=True)
class ContactSpec:
    """One ``<contact>``: where to listen and what to advertise."""

    text: str
    scheme: str
    host: str  # as written: an IP, a name, or '*' (all interfaces)
    port: int  # 0 = ephemeral
    transports: tuple[str, ...]
    external_ip: str | None = None
    local_net: str | None = None
    dns_names: tuple[str, ...] = ()

    @property
    def bind_host(self) -> str:
        if self.host in ("*", "0.0.0.0", ""):
            return "0.0.0.0"
        if self.host.startswith("["):
            return self.host[1:-1]
        return self.host


@dataclass(frozen=True, slots=True)
class RequestHandler:
    """Where the engine asks what to do with a new request (wire-protocol.md 6.2).

    ``tcp://host:port`` / ``tls://host:port``: dial the app there (outbound connection);
    ``http://...`` / ``https://...``: ask with an HTTP GET (or POST) and follow the JSON
    answer. ``verify_peer``: check the certificate of an https handler.
    """

    url: str
    http_method: str = "GET"
    verify_peer: bool = False

    def __post_init__(self) -> None:
        scheme = self.url.partition("://")[0].lower()
        if scheme not in ("tcp", "tls", "http", "https") or "://" not in self.url:
            raise ValueError(f"request handler must be a tcp://, tls://, http:// or https:// "
                             f"URL, got {self.url!r}")
        if self.http_method.upper() not in ("GET", "POST"):
            raise ValueError(f"request handler http-method must be GET or POST, "
                             f"got {self.http_method!r}")
        object.__setattr__(self, "http_method", self.http_method.upper())

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()


def parse_contact(
    text: str,
    external_ip: str | None = None,
    local_net: str | None = None,
    dns_names: tuple[str, ...] = (),
) -> ContactSpec:
    """Parse ``sip:127.0.0.1:5060;transport=udp,tcp`` (also ``sip:*``, ``sip:[::1]:5070``)."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty SIP contact")
    scheme, colon, rest = raw.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips"):
        raise ValueError(f"SIP contact must start with sip: or sips:, got {text!r}")
    hostport, _, params = rest.partition(";")
    if "@" in hostport:  # sip:user@host is allowed by the reference; the user is ignored
        hostport = hostport.rsplit("@", 1)[1]
    host, port = _split_hostport(hostport, text)
    transports: list[str] = []
    for param in params.split(";") if params else []:
        name, _, value = param.partition("=")
        if name.strip().lower() == "transport":
            transports.extend(t.strip().lower() for t in value.split(",") if t.strip())
    if not transports:
        transports = ["tls"] if scheme == "sips" else ["udp", "tcp"]
    if port is None:
        port = 5061 if scheme == "sips" else 5060
    seen: list[str] = []
    for t in transports:
        if t not in seen:
            seen.append(t)
    return ContactSpec(raw, scheme, host, port, tuple(seen), external_ip, local_net, dns_names)


def _split_hostport(hostport: str, original: str) -> tuple[str, int | None]:
    hostport = hostport.strip()
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 host in contact {original!r}")
        host = hostport[: end + 1]
        tail = hostport[end + 1 :]
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError(f"SIP contact has no host: {original!r}")
    if not port_text:
        return host, None
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in contact {original!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in contact {original!r}")
    return host, port


def parse_duration(text: str | None) -> float | None:
    """``'5s'``, ``'1500ms'``, ``'2'`` (seconds) -> seconds; empty or None -> None."""
    if text is None:
        return None
    t = text.strip().lower()
    if not t:
        return None
    try:
        if t.endswith("ms"):
            value = float(t[:-2]) / 1000.0
        elif t.endswith("s"):
            value = float(t[:-1])
        else:
            value = float(t)
    except ValueError:
        raise ValueError(f"bad duration {text!r} (expected e.g. '5s' or '1500ms')") from None
    if value < 0:
        raise ValueError(f"negative duration {text!r}")
    return value


def primary_ip() -> str:
    """The address this host would use to reach the internet (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        ip: str = s.getsockname()[0]
        return ip
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


@dataclass(slots=True)
class EngineConfig:
    """Everything the engine needs; defaults match the C++ server's."""

    contacts: list[str] = field(default_factory=lambda: [DEFAULT_CONTACT])
    #: Extra per-contact attributes by contact text: external-ip, local-net, dns-names.
    contact_specs: list[ContactSpec] | None = None
    admin_host: str = "127.0.0.1"
    #: Control-protocol port; ``None``: no control server (embedded use only), 0: ephemeral.
    admin_port: int | None = 9022
    secret: str = "admin"
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer H / B / F / "64*T1"; None -> 64 * t1.
    timer_h: float | None = None
    #: Timer C for proxied INVITEs (seconds).
    timer_c: float = 185.0
    #: How long an incoming request may wait for the app's first response before it is
    #: forgotten (the reference drops it silently after 64 s).
    app_response_timeout: float = 64.0
    outbound_proxy: str | None = None
    #: Send cdr:* events to apps that routed them. The reference needs ``<cdrs>true</cdrs>``;
    #: we default to on because only apps that ask for them ever receive any.
    cdrs: bool = True
    always_send_180: bool = False
    #: Smallest session interval accepted (RFC 4028 Min-SE; 422 below it).
    min_se: int = 90
    #: Incoming OPTIONS with exactly this User-Agent are answered 200 without any app.
    options_auto_respond: str | None = None
    max_tcp_connections: int = 4096
    tcp_idle_timeout: float = 600.0
    #: Largest SIP message accepted (bytes); bigger ones get 513 or are dropped.
    max_message_size: int = 65535
    udp_buffer_size: int = 4 * 1024 * 1024
    #: Largest control-protocol frame accepted from an app (bytes).
    max_frame: int = 16 * 1024 * 1024
    #: Load shedding: new INVITEs get ``503`` + ``Retry-After`` while requests wait longer
    #: than this (seconds) before the engine reads them (event-loop lag or UDP receive
    #: queue; see ``overload.py``). None: never on delay.
    overload_delay: float | None = 0.2
    #: ... or while more than this many requests handed to apps have no answer yet
    #: (None: no bound).
    overload_max_pending: int | None = 5000
    #: Retry-After (seconds) of those 503s.
    overload_retry_after: int = 5
    #: Name servers for RFC 3263 lookups (NAPTR/SRV/A), ``"ip"`` or ``"ip:port"``; None:
    #: the system's (resolv.conf; plain host names then resolve with getaddrinfo).
    dns_servers: list[str] | None = None
    #: Seconds a DNS lookup may take before the engine gives up on it.
    dns_timeout: float = 2.0
    #: TLS transports (``sips:host:5061;transport=tls`` contacts): certificate (PEM), its
    #: key, optional intermediate chain, lowest TLS version accepted.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_chain_file: str | None = None
    tls_min_version: str = "1.2"
    #: Outbound connections (wire-protocol.md 6.2): SIP method (upper case) or ``*`` ->
    #: handler. A new request whose method has one (exact method first, then ``*``) is not
    #: routed to the connected apps: the engine asks the handler or dials the app it names.
    request_handlers: dict[str, RequestHandler] = field(default_factory=dict)
    loglevel: str = "info"
    use_uvloop: bool = True
    version: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.contacts, str):
            raise TypeError("EngineConfig.contacts must be a list of SIP URIs, not a string")
        for name in ("t1", "t2", "t4"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"EngineConfig.{name} must be a positive number of seconds")
        if self.admin_port is not None and not 0 <= self.admin_port <= 65535:
            raise ValueError("EngineConfig.admin_port must be 0..65535 or None")
        if self.overload_delay is not None and (
                not isinstance(self.overload_delay, int | float) or self.overload_delay <= 0):
            raise ValueError("EngineConfig.overload_delay must be a positive number of seconds "
                             "or None")
        for method, handler in self.request_handlers.items():
            if not isinstance(handler, RequestHandler):
                raise TypeError(f"EngineConfig.request_handlers[{method!r}] must be a "
                                f"RequestHandler, got {type(handler).__name__}")
        self.request_handlers = {m.upper(): h for m, h in self.request_handlers.items()}
        if self.overload_max_pending is not None and (
                not isinstance(self.overload_max_pending, int) or self.overload_max_pending < 1):
            raise ValueError("EngineConfig.overload_max_pending must be a positive int or None")
        if self.dns_servers is not None:
            if isinstance(self.dns_servers, str) or not all(
                    isinstance(x, str) for x in self.dns_servers):
                raise TypeError("EngineConfig.dns_servers must be a list of 'ip' or 'ip:port' "
                                "strings or None")
            from drachtio.engine.resolver import parse_nameserver

            for spec in self.dns_servers:
                parse_nameserver(spec)  # ValueError says which one is wrong
        if not isinstance(self.dns_timeout, int | float) or self.dns_timeout <= 0:
            raise ValueError("EngineConfig.dns_timeout must be a positive number of seconds")
        if not self.version:
            from drachtio import __version__

            # srf parses ^v(\d+)\.(\d+)\.(\d+) to decide whether it may ping: claim the
            # protocol level of the reference we are compatible with.
            self.version = f"v0.9.10-drachtio-py-{__version__}"

    @property
    def t1x64(self) -> float:
        return self.timer_h if self.timer_h is not None else 64.0 * self.t1

    def contact_list(self) -> list[ContactSpec]:
        if self.contact_specs is not None:
            return list(self.contact_specs)
        return [parse_contact(c) for c in self.contacts]

    def copy(self, **changes: object) -> EngineConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# XML file (wire-protocol.md 7.1 subset)

_TRUE = ("true", "yes", "1", "on")


def load_xml_config(path: str) -> dict[str, object]:
    """Read a drachtio.conf.xml and return the EngineConfig fields it sets."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from None
    if root.tag != "drachtio":
        raise ValueError(f"config file {path}: root element must be <drachtio>")
    out: dict[str, object] = {}
    admin = root.find("admin")
    if admin is not None:
        if admin.get("port"):
            out["admin_port"] = int(admin.get("port", "9022"))
        if admin.get("secret") is not None:
            out["secret"] = admin.get("secret")
        if admin.text and admin.text.strip():
            out["admin_host"] = admin.text.strip()
        if admin.get("tls-port") not in (None, "0"):
            log.warning("config: admin tls-port is not supported; ignored")
    sip = root.find("sip")
    if sip is not None:
        specs: list[ContactSpec] = []
        elems = list(sip.findall("contacts/contact")) + list(sip.findall("contact"))
        for el in elems:
            text = (el.text or "").strip()
            if not text:
                continue
            dns = tuple(n.strip() for n in (el.get("dns-names") or "").split(",") if n.strip())
            specs.append(parse_contact(text, el.get("external-ip"), el.get("local-net"), dns))
        if specs:
            out["contact_specs"] = specs
            out["contacts"] = [s.text for s in specs]
        proxy = sip.findtext("outbound-proxy")
        if proxy and proxy.strip():
            out["outbound_proxy"] = proxy.strip()
        timers = sip.find("timers")
        if timers is not None:
            for tag, key in (("t1", "t1"), ("t2", "t2"), ("t4", "t4"), ("t1x64", "timer_h")):
                value = timers.findtext(tag)
                if value and value.strip():
                    out[key] = int(value.strip()) / 1000.0
        auto = sip.findtext("user-agent-options-auto-respond")
        if auto and auto.strip():
            out["options_auto_respond"] = auto.strip()
        size = sip.findtext("udp-buffer-size")
        if size and size.strip():
            out["udp_buffer_size"] = int(size.strip())
        tls = sip.find("tls")
        if tls is not None:
            for tag, key in (("key-file", "tls_key_file"), ("cert-file", "tls_cert_file"),
                             ("chain-file", "tls_chain_file"),
                             ("min-tls-version", "tls_min_version")):
                value = tls.findtext(tag)
                if value and value.strip():
                    out[key] = value.strip()
        for unsupported in ("capture-server", "spammers", "blacklist", "session-timers"):
            if sip.find(unsupported) is not None:
                log.warning("config: <sip><%s> is not supported; ignored", unsupported)
    cdrs = root.findtext("cdrs")
    if cdrs is not None and cdrs.strip():
        out["cdrs"] = cdrs.strip().lower() in _TRUE
    level = root.findtext("logging/loglevel")
    if level and level.strip():
        out["loglevel"] = level.strip()
    handlers: dict[str, RequestHandler] = {}
    for el in root.findall("request-handlers/request-handler"):
        url = (el.text or "").strip()
        if not url:
            continue
        method = (el.get("sip-method") or "*").strip().upper() or "*"
        handlers[method] = RequestHandler(
            url, (el.get("http-method") or "GET").strip(),
            (el.get("verify-peer") or "").strip().lower() in _TRUE)
    if handlers:
        out["request_handlers"] = handlers
    return out


def apply_env(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """The EngineConfig fields set by ``DRACHTIO_*`` environment variables we support."""
    e = os.environ if env is None else env
    out: dict[str, object] = {}
    if e.get("DRACHTIO_ADMIN_ADDRESS"):
        out["admin_host"] = e["DRACHTIO_ADMIN_ADDRESS"]
    if e.get("DRACHTIO_ADMIN_TCP_PORT"):
        out["admin_port"] = int(e["DRACHTIO_ADMIN_TCP_PORT"])
    if e.get("DRACHTIO_SECRET"):
        out["secret"] = e["DRACHTIO_SECRET"]
    if e.get("DRACHTIO_LOGLEVEL"):
        out["loglevel"] = e["DRACHTIO_LOGLEVEL"]
    if e.get("DRACHTIO_USER_AGENT_OPTIONS_AUTO_RESPOND"):
        out["options_auto_respond"] = e["DRACHTIO_USER_AGENT_OPTIONS_AUTO_RESPOND"]
    for var, key in (("DRACHTIO_TLS_CERT_FILE", "tls_cert_file"),
                     ("DRACHTIO_TLS_KEY_FILE", "tls_key_file"),
                     ("DRACHTIO_TLS_CHAIN_FILE", "tls_chain_file"),
                     ("DRACHTIO_MIN_TLS_VERSION", "tls_min_version")):
        if e.get(var):
            out[key] = e[var]
    if e.get("DRACHTIO_HTTP_HANDLER_URI"):
        out["request_handlers"] = {"*": RequestHandler(e["DRACHTIO_HTTP_HANDLER_URI"].strip())}
    return out


@functools.lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    """Whether ``host`` is an IP literal (brackets allowed); cached: a handful of peers
    account for nearly every lookup, once per message sent."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
