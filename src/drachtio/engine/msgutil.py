"""Small operations on ``drachtio.sip`` messages that the engine does on every packet.

They live in one place because two of them reach into the message model's storage for
speed (stamping the top Via without re-parsing every Via; remembering serialised bytes so a
message is encoded once however often it is retransmitted or echoed). If the message model
grows public equivalents, only this module changes.
"""

from __future__ import annotations

from drachtio.sip import Headers, Message, Request, Response, reason_phrase, split_list

__all__ = [
    "freeze",
    "stamp_via",
    "stateless_response",
]


def freeze(msg: Message) -> bytes:
    """Serialise ``msg`` once; later ``to_bytes()`` calls return the same bytes."""
    data = msg.to_bytes()
    h = msg._headers
    if not h._dirty:
        msg._raw = data
    return data


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
    if not changed:
        return
    h = req._headers
    i = h._keys.index("via")
    line = h._values[i]
    if "," in line:
        parts = split_list(line)
        old = parts[0]
        parts[0] = str(via)
        new_line = ", ".join(parts)
    else:
        old = line
        new_line = str(via)
    h._values[i] = new_line
    raw = req._raw
    if raw is not None and not h._dirty:
        # splice the new top Via into the received bytes: the message stays "unmodified"
        # and is not re-serialised when relayed (this runs for every request)
        old_b = old.encode("utf-8", "surrogateescape")
        pos = raw.find(old_b)
        if pos > 0:
            new_b = str(via).encode("utf-8", "surrogateescape")
            req._raw = raw[:pos] + new_b + raw[pos + len(old_b):]
            return
    h._dirty = True


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
