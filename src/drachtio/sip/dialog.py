"""RFC 3261 section 12 dialog state, sans-IO.

A ``Dialog`` holds what in-dialog requests need: Call-ID, local/remote tags and parties,
CSeq counters, remote target, route set and the secure flag. It builds requests
(``create_request``), vets incoming ones (``receive_request``: 481/500 or accept) and follows
responses (``receive_response`` on the UAC side, ``send_response`` on the UAS side) for the
early -> confirmed step and target refreshes. ``DialogTable`` finds dialogs by drachtio's
dialog id and by (Call-ID, local tag, remote tag).

The dialog id is drachtio's ``<Call-ID>;from-tag=<From tag of the creating request>``: the
same string on both legs (the remote tag on the UAS side, our own tag on the UAC side).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping

from drachtio.sip import Message, NameAddr, Request, Response, SipParseError
from drachtio.sip.transaction import _headers_list

__all__ = [
    "DIALOG_CREATING_METHODS",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogState",
    "DialogTable",
    "dialog_id",
]

#: Requests whose 2xx (or 101-199 with a To tag, for INVITE) create a dialog (RFC 3261,
#: 6665, 3515).
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})

#: Requests that may change the remote target (12.2; RFC 3311, 6665, 3515).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


def dialog_id(call_id: str, from_tag: str) -> str:
    """drachtio's dialog id: ``<Call-ID>;from-tag=<tag>``."""
    return f"{call_id};from-tag={from_tag}"


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def _contact_uri(msg: Message) -> str | None:
    """URI of the first Contact, or None when absent or unusable (``*``, garbage)."""
    try:
        views = msg.contacts  # parsed once per message and shared with other readers
        if views and not views[0].is_wildcard:
            return str(views[0].uri)
    except (SipParseError, ValueError):
        pass  # a later Contact may be broken while the first is usable: parse only that
    contacts = msg.get_all("Contact")
    if not contacts:
        return None
    try:
        return str(NameAddr.parse(contacts[0]).uri)
    except (SipParseError, ValueError):
        return None


def _uri_of(name_addr_text: str) -> str:
    try:
        return str(NameAddr.parse(name_addr_text).uri)
    except (SipParseError, ValueError):
        return name_addr_text


def _is_loose(route: str) -> bool:
    try:
        uri = NameAddr.parse(route).uri
    except (SipParseError, ValueError):
        return True
    return "lr" in uri.params


def _request_uri_from_route(route: str) -> str:
    """First route URI as a Request-URI (strict routing): parameters not allowed in a
    Request-URI (``method``) and URI headers stripped (19.1.1)."""
    try:
        uri = NameAddr.parse(route).uri.copy()
    except (SipParseError, ValueError):
        return route.strip().strip("<>")
    if "method" in uri.params or uri.headers:
        uri.params.pop("method", None)
        uri.headers = {}
    return str(uri)


def _is_sips(uri_text: str) -> bool:
    return uri_text[:5].lower() == "sips:"


class Dialog:
    """One dialog (12.1): the state needed to send and accept in-dialog requests.

    Build with ``Dialog.from_uas`` / ``Dialog.from_uac``. ``local_party``/``remote_party`` are
    the From/To header values (with tags) used on requests we send.
    """

    __slots__ = (
        "call_id",
        "invite_seq",
        "is_uas",
        "local_party",
        "local_seq",
        "local_tag",
        "local_target",
        "method",
        "remote_party",
        "remote_seq",
        "remote_tag",
        "remote_target",
        "route_set",
        "secure",
        "state",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_party: str,
        remote_party: str,
        remote_target: str,
        route_set: Iterable[str] = (),
        local_seq: int | None = None,
        remote_seq: int | None = None,
        is_uas: bool,
        secure: bool = False,
        state: DialogState = DialogState.CONFIRMED,
        method: str = "INVITE",
        local_target: str | None = None,
    ) -> None:
        for name, value in (
            ("call_id", call_id),
            ("local_tag", local_tag),
            ("remote_tag", remote_tag),
            ("local_party", local_party),
            ("remote_party", remote_party),
            ("remote_target", remote_target),
        ):
            if not isinstance(value, str):
                raise TypeError(f"Dialog {name} must be a str, got {value!r}")
        if not call_id:
            raise ValueError("Dialog call_id must not be empty")
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_party = local_party
        self.remote_party = remote_party
        self.remote_target = remote_target
        self.route_set: list[str] = list(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.is_uas = is_uas
        self.secure = secure
        self.state = state
        self.method = method
        #: Our Contact header value, put on target-refresh requests we build.
        self.local_target = local_target
        #: CSeq number of the last INVITE we sent (for its ACK and CANCEL).
        self.invite_seq: int | None = None

    # -- construction (12.1.1, 12.1.2) ------------------------------------------------------
    @classmethod
    def from_uas(
        cls,
        request: Request,
        response: Response,
        *,
        local_seq: int | None = None,
        secure: bool | None = None,
    ) -> Dialog:
        """The UAS side, from the dialog-creating request and our 2xx/1xx to it.

        Route set = Record-Route of the request as is; remote target = its Contact. The
        local CSeq starts from ``local_seq`` or, as drachtio does, the request's CSeq number
        (so our first request carries that number + 1). ``secure`` defaults to "the
        Request-URI is sips:".
        """
        cls._check_pair(request, response)
        local_tag = response.to.tag
        if not local_tag:
            raise ValueError("the UAS response creating a dialog must carry a To tag")
        remote_tag = request.from_.tag or ""
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_party=response.get("To") or "",
            remote_party=request.get("From") or "",
            remote_target=_contact_uri(request) or _uri_of(request.get("From") or ""),
            route_set=request.get_all("Record-Route"),
            local_seq=request.cseq.seq if local_seq is None else local_seq,
            remote_seq=request.cseq.seq,
            is_uas=True,
            secure=_is_sips(request.uri) if secure is None else secure,
            state=cls._state_for(response),
            method=request.method,
            local_target=response.get("Contact"),
        )

    @classmethod
    def from_uac(
        cls, request: Request, response: Response, *, secure: bool | None = None
    ) -> Dialog:
        """The UAC side, from the request we sent and a 2xx/101-199 response to it.

        Route set = the response's Record-Route reversed; remote target = its Contact. A
        response without a To tag (RFC 2543 peer) gives an empty remote tag (12.1.2).
        """
        cls._check_pair(request, response)
        local_tag = request.from_.tag
        if not local_tag:
            raise ValueError("the UAC request creating a dialog must carry a From tag")
        dialog = cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=response.to.tag or "",
            local_party=request.get("From") or "",
            remote_party=response.get("To") or "",
            remote_target=_contact_uri(response) or request.uri,
            route_set=reversed(response.get_all("Record-Route")),
            local_seq=request.cseq.seq,
            remote_seq=None,
            is_uas=False,
            secure=_is_sips(request.uri) if secure is None else secure,
            state=cls._state_for(response),
            method=request.method,
            local_target=request.get("Contact"),
        )
        if request.method == "INVITE":
            dialog.invite_seq = request.cseq.seq
        return dialog

    @staticmethod
    def _check_pair(request: Request, response: Response) -> None:
        if not isinstance(request, Request) or not isinstance(response, Response):
            raise TypeError("a dialog is built from a Request and a Response to it")
        if request.method not in DIALOG_CREATING_METHODS:
            raise ValueError(f"{request.method} does not create dialogs")
        if not 101 <= response.status <= 299:
            raise ValueError(f"a {response.status} response does not create a dialog")

    @staticmethod
    def _state_for(response: Response) -> DialogState:
        return DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """drachtio's dialog id (From tag of the creating request)."""
        return dialog_id(self.call_id, self.remote_tag if self.is_uas else self.local_tag)

    @property
    def local_uri(self) -> str:
        return _uri_of(self.local_party)

    @property
    def remote_uri(self) -> str:
        return _uri_of(self.remote_party)

    @property
    def tags(self) -> tuple[str, str, str]:
        """(Call-ID, local tag, remote tag): the RFC 3261 dialog id."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @property
    def early(self) -> bool:
        return self.state is DialogState.EARLY

    @property
    def confirmed(self) -> bool:
        return self.state is DialogState.CONFIRMED

    def terminate(self) -> None:
        """Mark the dialog over (BYE, 481/408 policy and such are the engine's call)."""
        self.state = DialogState.TERMINATED

    # -- sending (12.2.1.1) -----------------------------------------------------------------
    def next_cseq(self) -> int:
        """Take the next local CSeq number (an initial one is chosen if the counter is empty)."""
        self.local_seq = 1 if self.local_seq is None else self.local_seq + 1
        return self.local_seq

    def request_target(self) -> tuple[str, list[str]]:
        """(Request-URI, Route values) for the next request: loose or strict routing."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if _is_loose(first):
            return self.remote_target, list(self.route_set)
        return _request_uri_from_route(first), [*self.route_set[1:], f"<{self.remote_target}>"]

    def create_request(
        self,
        method: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        cseq: int | None = None,
    ) -> Request:
        """A request inside this dialog, without Via (the transport adds it).

        CSeq: ACK and CANCEL reuse the last INVITE's number, everything else takes the next
        local number (``cseq`` overrides both). Target-refresh requests get our Contact
        unless ``headers`` has one. Request-URI and Route follow the route set.
        """
        if not isinstance(method, str) or not method or not method.isascii() or " " in method:
            raise ValueError(f"method must be a SIP method token, got {method!r}")
        if self.state is DialogState.TERMINATED:
            raise ValueError(f"dialog {self.id} is terminated")
        extra = _headers_list(headers)
        if cseq is not None:
            if not isinstance(cseq, int) or isinstance(cseq, bool) or not 0 <= cseq < 2**31:
                raise ValueError(f"cseq must be an int in 0..2**31-1, got {cseq!r}")
            seq = cseq
            if method not in ("ACK", "CANCEL"):
                self.local_seq = max(cseq, self.local_seq or 0)
        elif method in ("ACK", "CANCEL"):
            if self.invite_seq is None:
                raise ValueError(f"no INVITE was sent in dialog {self.id} to {method}")
            seq = self.invite_seq
        else:
            seq = self.next_cseq()
        if method == "INVITE":
            self.invite_seq = seq
        uri, routes = self.request_target()
        out: list[tuple[str, str]] = [("Max-Forwards", "70")]
        out.extend(("Route", r) for r in routes)
        out += [
            ("From", self.local_party),
            ("To", self.remote_party),
            ("Call-ID", self.call_id),
            ("CSeq", f"{seq} {method}"),
        ]
        has_contact = any(n.lower() in ("contact", "m") for n, _ in extra)
        if method in TARGET_REFRESH_METHODS and self.local_target and not has_contact:
            out.append(("Contact", self.local_target))
        out.extend(extra)
        if not any(n.lower() in ("content-length", "l") for n, _ in extra):
            out.append(("Content-Length", str(len(body))))
        return Request(method, uri, out, body)

    # -- receiving (12.2.2) -----------------------------------------------------------------
    def matches_request(self, request: Request) -> bool:
        """True if ``request`` carries this dialog's Call-ID and tags (To = ours)."""
        return (
            request.call_id == self.call_id
            and (request.to.tag or "") == self.local_tag
            and (request.from_.tag or "") == self.remote_tag
        )

    def receive_request(self, request: Request) -> int | None:
        """Vet an incoming in-dialog request: None to accept it, else the status to answer
        (481 not this dialog, 500 CSeq lower than the last one). Accepting updates the remote
        CSeq and, for target-refresh requests with a Contact, the remote target."""
        if not isinstance(request, Request):
            raise TypeError(f"receive_request() takes a Request, got {type(request).__name__}")
        if not self.matches_request(request) or self.state is DialogState.TERMINATED:
            return 481
        if request.method in ("ACK", "CANCEL"):
            return None
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return 500
        self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS:
            target = _contact_uri(request)
            if target is not None:
                self.remote_target = target
        return None

    def receive_response(self, response: Response) -> None:
        """Follow a response to a request we sent in this dialog (UAC role, 12.2.1.2, 13.2.2.4).

        2xx to the creating request confirms an early dialog and recomputes route set and
        remote target from it; 2xx to a target refresh updates the remote target; a 1xx in an
        early dialog updates the remote target.
        """
        if not isinstance(response, Response):
            raise TypeError(f"receive_response() takes a Response, got {type(response).__name__}")
        if response.call_id != self.call_id or (response.from_.tag or "") != self.local_tag:
            raise ValueError("response does not belong to this dialog")
        method = response.cseq.method
        status = response.status
        target = _contact_uri(response)
        if 200 <= status <= 299:
            if self.state is DialogState.EARLY and method == self.method:
                self.state = DialogState.CONFIRMED
                self.route_set = list(reversed(response.get_all("Record-Route")))
                if target is not None:
                    self.remote_target = target
            elif method in TARGET_REFRESH_METHODS and target is not None:
                self.remote_target = target
        elif 101 <= status <= 199 and self.state is DialogState.EARLY and target is not None:
            self.remote_target = target

    def send_response(self, response: Response) -> None:
        """Follow a response we send in this dialog (UAS role): a 2xx to the creating
        request confirms an early dialog."""
        if not isinstance(response, Response):
            raise TypeError(f"send_response() takes a Response, got {type(response).__name__}")
        if (
            200 <= response.status <= 299
            and self.state is DialogState.EARLY
            and response.cseq.method == self.method
        ):
            self.state = DialogState.CONFIRMED

    def __repr__(self) -> str:
        role = "uas" if self.is_uas else "uac"
        return f"<Dialog {self.id} {role} {self.state.value} local_seq={self.local_seq}>"


class DialogTable:
    """Dialogs by drachtio dialog id and by (Call-ID, local tag, remote tag).

    Forked early dialogs share a dialog id; ``get`` then prefers a confirmed one, else the
    most recently added.
    """

    __slots__ = ("_by_id", "_by_tags")

    def __init__(self) -> None:
        self._by_tags: dict[tuple[str, str, str], Dialog] = {}
        self._by_id: dict[str, list[Dialog]] = {}

    def add(self, dialog: Dialog) -> None:
        if not isinstance(dialog, Dialog):
            raise TypeError(f"DialogTable.add() takes a Dialog, got {type(dialog).__name__}")
        old = self._by_tags.get(dialog.tags)
        if old is not None:
            self.remove(old)
        self._by_tags[dialog.tags] = dialog
        self._by_id.setdefault(dialog.id, []).append(dialog)

    def remove(self, dialog: Dialog) -> None:
        """Forget ``dialog`` (no error if it is not there)."""
        if self._by_tags.get(dialog.tags) is dialog:
            del self._by_tags[dialog.tags]
        group = self._by_id.get(dialog.id)
        if group is not None:
            group[:] = [d for d in group if d is not dialog]
            if not group:
                del self._by_id[dialog.id]

    def get(self, dialog_id: str) -> Dialog | None:
        group = self._by_id.get(dialog_id)
        if not group:
            return None
        for dialog in reversed(group):
            if dialog.state is DialogState.CONFIRMED:
                return dialog
        return group[-1]

    def get_all(self, dialog_id: str) -> list[Dialog]:
        return list(self._by_id.get(dialog_id, ()))

    def lookup(self, call_id: str, local_tag: str, remote_tag: str) -> Dialog | None:
        return self._by_tags.get((call_id, local_tag, remote_tag))

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog an incoming request belongs to (To tag = ours, From tag = theirs)."""
        return self.lookup(request.call_id, request.to.tag or "", request.from_.tag or "")

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog a response to our request belongs to (From tag = ours, To tag = theirs)."""
        return self.lookup(response.call_id, response.from_.tag or "", response.to.tag or "")

    def __len__(self) -> int:
        return len(self._by_tags)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._by_tags.values()))

    def __contains__(self, item: object) -> bool:
        return isinstance(item, Dialog) and self._by_tags.get(item.tags) is item
