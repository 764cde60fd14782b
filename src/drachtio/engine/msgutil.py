"""Small operations on ``drachtio.sip`` messages that the engine does on every packet.

They live in one place because two of them reach into the message model's storage for
speed (stamping the top Via without re-parsing every Via; remembering serialised bytes so a
message is encoded once however often it is retransmitted or echoed). If the message model
grows public equivalents, only this module changes.
"""

from __future__ import annotations

from drachtio.sip import Message, Request, Response, split_list
from drachtio.sip import reason_phrase

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
    if asked or via.host != host:
        if params.get("received") != host:
            params["received"] = host
            changed = True
    if not changed:
        return
    h = req._headers
    i = h._keys.index("via")
    line = h._values[i]
    if "," in line:
        parts = split_list(line)
        parts[0] = str(via)
        h._values[i] = ", ".join(parts)
    else:
        h._values[i] = str(via)
    h._dirty = True


def _sanitize(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:120].strip()


def stateless_response(
    req: Request, status: int, reason: str | None = None, to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """A response built from the raw header text only, for requests whose headers may not
    parse (400 to a malformed request): Via lines, From, To (+tag), Call-ID, CSeq copied."""
    h = req._headers
    out: list[tuple[str, str]] = []
    for key, name, value in zip(h._keys, h._names, h._values, strict=True):
        if key == "via":
            out.append(("Via", value))
        elif key in ("from", "call-id", "cseq"):
            out.append((name if key != "from" else "From", value))
        elif key == "to":
            if to_tag and status > 100 and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            out.append(("To", value))
    if extra:
        out.extend(extra)
    phrase = _sanitize(reason) if reason else reason_phrase(status)
    return Response(status, phrase or reason_phrase(status), out)


def is_response(msg: Message) -> bool:
    return isinstance(msg, Response)
