"""Layer 1: the sans-IO SIP message model (standard library only).

Parse datagrams with ``parse_message``, streams with ``StreamParser``; build messages with
``Request``/``Response``; read headers through ``Message.get``/``get_all``/``parsed`` and
the cached accessors (``call_id``, ``cseq``, ``top_via``, ``from_``, ``to`` ...).
"""

from drachtio.sip.errors import DEFAULT_LIMITS, Limits, SipParseError
from drachtio.sip.grammar import COMPACT_FORMS, canonical_key, split_list
from drachtio.sip.headers import (
    AuthChallenge,
    Credentials,
    CSeq,
    Event,
    Headers,
    MediaType,
    NameAddr,
    RAck,
    SessionExpires,
    SubscriptionState,
    Via,
    parse_challenge,
    parse_header,
)
from drachtio.sip.message import REASON_PHRASES, Message, Request, Response, reason_phrase
from drachtio.sip.parser import StreamParser, parse_message
from drachtio.sip.uri import SipURI, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "DEFAULT_LIMITS",
    "REASON_PHRASES",
    "AuthChallenge",
    "CSeq",
    "Credentials",
    "Event",
    "Headers",
    "Limits",
    "MediaType",
    "Message",
    "NameAddr",
    "RAck",
    "Request",
    "Response",
    "SessionExpires",
    "SipParseError",
    "SipURI",
    "StreamParser",
    "SubscriptionState",
    "Via",
    "canonical_key",
    "parse_challenge",
    "parse_header",
    "parse_message",
    "parse_uri",
    "reason_phrase",
    "split_list",
]
