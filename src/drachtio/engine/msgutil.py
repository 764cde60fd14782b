"""Small operations on ``drachtio.sip`` messages that the engine does on every packet:
stamping ``received``/``rport`` on arrival, and the minimal stateless response of RFC 3261
8.2.6, built from a request's raw header text (so it works for requests whose other headers
do not parse). The second builds its header container directly, without re-checking values
that came off the wire (RFC 4475 TC_INTMETH's NUL would be refused)."""

from __future__ import annotations

from drachtio.sip import Headers, Message, Request, Response, reason_phrase

__all__ = [
    "stamp_via",
    "stateless_response",
]


def stamp_via(req: Request, host: str, port: int) -> None:
    """RFC 3581/3261 18.2.1: ``rport=<source port>`` always (as the reference does),
    ``received=<source ip>`` when the client asked for rport or sent-by differs."""
    via = req.top_via
    params = via.params
    sport = str(port)
    asked = "rport" in params
    changed = False
    if params.get("rport") != sport:
        params["rport"] = sport
        changed = True
    if (asked or via.host != host) and params.get("received") != host:
        params["received"] = host
        changed = True
    if changed:
        req.replace_top_via(via)


def _sanitize(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:120].strip()


_CANON = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}


def stateless_response(
    req: Request, status: int, reason: str | None = None, to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """A response built from the request's raw header text (8.2.6): Via lines, From, To
    (plus ``to_tag`` unless it has one or this is a 100), Call-ID, CSeq; canonical names.

    Works for requests whose other headers do not parse (a 400 to a malformed request), and
    for 100 Trying (the Timestamp is echoed)."""
    h = req._headers
    names: list[str] = []
    values: list[str] = []
    keys: list[str] = []
    for key, value in zip(h._keys, h._values, strict=True):
        canon = _CANON.get(key)
        if canon is None:
            if key == "timestamp" and status == 100:
                names.append("Timestamp")
                values.append(value)
                keys.append(key)
            continue
        if (key == "to" and to_tag and status > 100
                and ";tag=" not in value.replace(" ", "").lower()):
            value = f"{value};tag={to_tag}"
        names.append(canon)
        values.append(value)
        keys.append(key)
    # values are the request's own text (they may hold bytes the Headers constructor
    # refuses, e.g. RFC 4475 TC_INTMETH's NUL): build the container without re-checking
    headers = Headers._from_lists(names, values, keys)
    for name, value in extra or ():
        headers.append(name, value)
    headers._dirty = False
    phrase = _sanitize(reason) if reason else ""
    return Response(status, phrase or reason_phrase(status), headers)


def is_response(msg: Message) -> bool:
    return isinstance(msg, Response)
