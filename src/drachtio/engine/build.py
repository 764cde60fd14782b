"""Default headers: turning an app's loosely written SIP into what goes on the wire.

Pure functions (no engine state), one per kind of message the app can send, following
wire-protocol.md 5.1-5.6: new requests get Via/Max-Forwards/From/To/Call-ID/CSeq/Contact/
Content-Type/Content-Length as the reference adds them, responses take their dialog headers
from the request they answer, in-dialog requests take theirs from the dialog. Header order
follows the reference: the stack's headers first, then the app's well-known ones, then
Content-Length, then the app's custom headers.
"""

from __future__ import annotations

from drachtio.engine.appmsg import AppSip, substitute_localhost
from drachtio.engine.ids import initial_cseq, new_call_id, new_tag
from drachtio.sip import Headers, NameAddr, Request, Response, SipParseError, canonical_key
from drachtio.sip.dialog import TARGET_REFRESH_METHODS, Dialog

__all__ = [
    "BuildError",
    "build_in_dialog_request",
    "build_new_request",
    "build_response",
    "contact_for",
    "has_option",
    "infer_content_type",
]

#: Headers the engine takes from the request / dialog, never from the app's copy.
_DIALOG_HEADERS = frozenset({"from", "to", "call-id", "cseq"})
_LOCALHOST_KEYS = frozenset({"from", "to", "contact", "p-asserted-identity"})


class BuildError(ValueError):
    """The app's message cannot be sent; ``str(err)`` is the NOK reason for the app."""


def contact_for(hostport: str, proto: str, user: str | None = None) -> str:
    """``<sip:[user@]host:port[;transport=tcp]>`` for a local transport (``<sips:...>`` on
    tls, as the reference does)."""
    who = f"{user}@" if user else ""
    if proto == "tls":
        return f"<sips:{who}{hostport}>"
    tp = "" if proto == "udp" else f";transport={proto}"
    return f"<sip:{who}{hostport}{tp}>"


def infer_content_type(app: AppSip) -> str | None:
    """Content-Type to add (``application/sdp`` for a ``v=0`` body); raises BuildError when a
    body has no Content-Type and is not SDP."""
    if not app.body or app.has("Content-Type"):
        return None
    if app.body.lstrip()[:3] == b"v=0":
        return "application/sdp"
    raise BuildError("missing content-type")


def has_option(values: list[str], tag: str) -> bool:
    """True if a Require/Supported header list mentions option ``tag``."""
    tag = tag.lower()
    for v in values:
        for part in v.split(","):
            if part.strip().lower() == tag:
                return True
    return False


def _known_rest(app: AppSip, hostport: str, skip: frozenset[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in app.known:
        low = name.lower()
        if low in skip:
            continue
        if low in _LOCALHOST_KEYS:
            value = substitute_localhost(value, hostport)
        out.append((name, value))
    return out


def _finish(headers: list[tuple[str, str]], app: AppSip, ctype: str | None) -> Headers:
    """Append Content-Type/Length and the custom headers; build the container.

    Names are canonical or checked tokens (``parse_app_sip``) and values never hold CR/LF
    (the app's text was split on them), so the per-header checks of ``Headers(...)`` are
    skipped: this runs for every message an app sends."""
    if ctype is not None:
        headers.append(("Content-Type", ctype))
    headers.append(("Content-Length", str(len(app.body))))
    headers.extend(app.custom)
    names = [n for n, _ in headers]
    return Headers._from_lists(names, [v for _, v in headers], [canonical_key(n) for n in names])


# --------------------------------------------------------------------------------------------


def build_new_request(
    app: AppSip,
    *,
    via: str,
    hostport: str,
    proto: str,
    default_from: str | None = None,
) -> Request:
    """A request outside any dialog (5.1). ``via`` is the complete Via value to use."""
    method = app.method
    uri = app.uri
    ctype = infer_content_type(app)
    from_value = app.get("From")
    if from_value:
        from_value = substitute_localhost(from_value, hostport)
        try:
            fa = NameAddr.parse(from_value)
        except (SipParseError, ValueError):
            raise BuildError(f"invalid From header: {from_value}") from None
        if fa.tag is None:
            from_value = f"{from_value};tag={new_tag()}"
    else:
        from_value = f"{default_from or f'<sip:{hostport}>'};tag={new_tag()}"
    to_value = app.get("To")
    to_value = substitute_localhost(to_value, hostport) if to_value else f"<{uri}>"
    call_id = app.get("Call-ID") or new_call_id()
    cseq_value = app.get("CSeq")
    if cseq_value:
        num, _, _m = cseq_value.strip().partition(" ")
        if not num.isdigit():
            raise BuildError(f"invalid CSeq header: {cseq_value}")
        cseq_value = f"{int(num)} {method}"
    else:
        cseq_value = f"{initial_cseq()} {method}"
    max_fwd = app.get("Max-Forwards") or "70"
    headers: list[tuple[str, str]] = [
        ("Via", via),
        ("Max-Forwards", max_fwd),
        ("From", from_value),
        ("To", to_value),
        ("Call-ID", call_id),
        ("CSeq", cseq_value),
    ]
    contact = app.get("Contact")
    if contact:
        headers.append(("Contact", substitute_localhost(contact, hostport)))
    elif method in ("INVITE", "SUBSCRIBE"):
        headers.append(("Contact", contact_for(hostport, proto)))
    skip = _DIALOG_HEADERS | {"max-forwards", "contact"}
    if method == "CANCEL":
        skip = skip | {"p-asserted-identity"}
    headers.extend(_known_rest(app, hostport, skip))
    try:
        return Request(method, uri, _finish(headers, app, ctype), app.body)
    except ValueError as exc:
        raise BuildError(f"invalid request-uri: {uri} ({exc})") from None


def build_response(
    req: Request,
    app: AppSip,
    *,
    to_tag: str | None,
    hostport: str,
    proto: str,
    add_contact: bool,
    copy_record_route: bool,
    rseq: int | None = None,
) -> Response:
    """The app's response to ``req`` (5.3): dialog headers from the request, To tag added."""
    status = app.status
    ctype = infer_content_type(app)
    h = req.headers
    headers: list[tuple[str, str]] = [("Via", v) for v in h.get_lines("Via")]
    if copy_record_route:
        headers.extend(("Record-Route", v) for v in h.get_lines("Record-Route"))
    to_value = req.get("To") or ""
    if to_tag and status != 100 and req.to.tag is None:
        to_value = f"{to_value};tag={to_tag}"
    headers += [
        ("From", req.get("From") or ""),
        ("To", to_value),
        ("Call-ID", req.call_id),
        ("CSeq", f"{req.cseq.seq} {req.cseq.method}"),
    ]
    contact = app.get("Contact")
    if contact:
        headers.append(("Contact", substitute_localhost(contact, hostport)))
    elif add_contact:
        headers.append(("Contact", contact_for(hostport, proto)))
    if rseq is not None:
        headers.append(("RSeq", str(rseq)))
    headers.extend(_known_rest(app, hostport, _DIALOG_HEADERS | {"contact"}))
    reason = app.reason or None
    return Response(status, reason, _finish(headers, app, ctype), app.body)


def build_in_dialog_request(
    dialog: Dialog,
    app: AppSip,
    *,
    via: str,
    hostport: str,
    proto: str,
    cseq: int | None = None,
) -> Request:
    """A request inside ``dialog`` (5.4, 5.6): Call-ID, tags, CSeq, route set from the dialog.

    ``sip:placeholder`` (or any URI containing ``placeholder``) and every ACK/PRACK target
    the dialog's remote target; another URI given by the app is kept.
    """
    method = app.method
    ctype = infer_content_type(app)
    if method in ("ACK", "CANCEL"):
        if dialog.invite_seq is None:
            raise BuildError(f"Server error: no INVITE to {method} in this dialog")
        seq = dialog.invite_seq if cseq is None else cseq
    elif cseq is not None:
        seq = cseq
        dialog.local_seq = max(cseq, dialog.local_seq or 0)
    else:
        seq = dialog.next_cseq()
    if method == "INVITE":
        dialog.invite_seq = seq
    uri, routes = dialog.request_target()
    if (method not in ("ACK", "PRACK") and app.uri and "placeholder" not in app.uri
            and not dialog.route_set):
        uri = app.uri
    headers: list[tuple[str, str]] = [("Via", via), ("Max-Forwards", app.get("Max-Forwards") or "70")]
    headers.extend(("Route", r) for r in routes)
    headers += [
        ("From", dialog.local_party),
        ("To", dialog.remote_party),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{seq} {method}"),
    ]
    contact = app.get("Contact")
    if contact:
        headers.append(("Contact", substitute_localhost(contact, hostport)))
    elif method in TARGET_REFRESH_METHODS:
        headers.append(("Contact", dialog.local_target or contact_for(hostport, proto)))
    headers.extend(_known_rest(app, hostport, _DIALOG_HEADERS | {"contact", "max-forwards"}))
    return Request(method, uri, _finish(headers, app, ctype), app.body)
