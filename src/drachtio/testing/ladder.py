"""Draw SIP message flows as text ladders: one column per party, one arrow per message.

::

               caller                 b2bua                   uas
              127.0.0.1:40311        127.0.0.1:5060          127.0.0.1:5062
    +0.000     |----- INVITE (SDP) --->|                       |
    +0.001     |<---- 100 Trying ------|                       |
    +0.003     |                       |----- INVITE (SDP) --->|
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from drachtio.testing.trace import TraceEntry

__all__ = ["render_ladder"]

Address = tuple[str, int]


def _fmt_addr(a: Address) -> str:
    return f"{a[0]}:{a[1]}"


def render_ladder(
    entries: Iterable[TraceEntry],
    names: Mapping[Address, str] | None = None,
    *,
    order: Sequence[Address] | None = None,
    column_width: int = 26,
    t0: float | None = None,
    color: bool = False,
) -> str:
    """The entries (already de-duplicated, see ``SipTrace.unique``) as a ladder diagram.

    ``names`` labels addresses (others show as ``host:port``); ``order`` fixes the column
    order (default: first appearance). Times are seconds from ``t0`` (default: the first
    entry).
    """
    items = list(entries)
    if not items:
        return "(no SIP messages)"
    names = dict(names or {})
    cols: list[Address] = list(order or [])
    for e in items:
        for a in (e.src, e.dst):
            if a not in cols:
                cols.append(a)
    w = max(column_width, 12)
    margin = 10
    pos = {a: margin + w // 2 + i * w for i, a in enumerate(cols)}
    total = margin + w * len(cols)

    def row(text_at: list[tuple[int, str]]) -> str:
        buf = [" "] * total
        for p, s in text_at:
            for i, ch in enumerate(s):
                if 0 <= p + i < total:
                    buf[p + i] = ch
        return "".join(buf).rstrip()

    lines: list[str] = []
    head1: list[tuple[int, str]] = []
    head2: list[tuple[int, str]] = []
    for a in cols:
        n = names.get(a, "")
        addr = _fmt_addr(a)
        label = (n or addr)[: w - 2]
        head1.append((pos[a] - len(label) // 2, label))
        if n:
            addr = addr[: w - 2]
            head2.append((pos[a] - len(addr) // 2, addr))
    lines.append(row(head1))
    if head2:
        lines.append(row(head2))
    start = items[0].time if t0 is None else t0
    bars = [(pos[a], "|") for a in cols]
    for e in items:
        xa, xb = pos[e.src], pos[e.dst]
        label = e.label()
        cells = list(bars)
        if xa == xb:
            cells.append((xa + 1, f"<-> {label}"))
        else:
            lo, hi = min(xa, xb), max(xa, xb)
            span = hi - lo - 1
            text = f" {label} "
            if len(text) > span - 4:
                text = text[: max(span - 5, 1)] + "~ "
            dashes = span - len(text)
            left = dashes // 2
            right = dashes - left
            body = "-" * left + text + "-" * right
            body = body[:-1] + ">" if xb > xa else "<" + body[1:]
            cells.append((lo + 1, body))
        prefix = f"{e.time - start:+8.3f}"
        line = row(cells)
        line = prefix + line[len(prefix):] if len(line) > len(prefix) else prefix
        if color:
            line = _colorize(line, e)
        lines.append(line)
    return "\n".join(lines)


_RESET = "\x1b[0m"


def _colorize(line: str, e: TraceEntry) -> str:
    status = e.status
    if status is None:
        code = "\x1b[36m"  # requests: cyan
    elif status < 200:
        code = "\x1b[2m"  # provisional: dim
    elif status < 300:
        code = "\x1b[32m"  # success: green
    else:
        code = "\x1b[31m"  # failure: red
    return f"{line[:9]}{code}{line[9:]}{_RESET}"
