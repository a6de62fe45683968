"""Line-oriented text protocols over TCP: HTTP, RTSP, FTP, SMTP (txtproto) and the SSH banner."""
from __future__ import annotations

import re

from .core import Ctx, Truncated

HTTP_CMDS = frozenset((
    "GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE", "MKCOL",
    "TRACE", "LABEL", "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "NOTIFY",
    "BDELETE", "CONNECT", "OPTIONS", "CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE",
    "PROPPATCH", "BPROPFIND", "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE",
    "UNSUBSCRIBE", "RPC_CONNECT", "VERSION-CONTROL", "BASELINE-CONTROL",
))
RTSP_CMDS = frozenset(("DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY",
                       "RECORD", "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN"))
MAX_TOKEN = 128


_TOKEN = re.compile(rb"[\x21-\x7e]*")     # printable, not blank
_SPACES = re.compile(rb" *")
_LINE = re.compile(rb"[\x20-\x7e\t]*")     # what a text line may hold before its end
_LINE_BYTES = bytes(range(0x20, 0x7F)) + b"\t"
_LINES = re.compile(rb"(?:[\x20-\x7e\t]*\r?\n)*")   # whole lines, LF or CR LF ended


def _isprint(c: int) -> bool:
    return 0x20 <= c < 0x7F


def _fetch_token(ctx: Ctx, p: int, idx: int, length: int) -> tuple[int, str]:
    """The printable token at p+idx and the index after the spaces behind it; (0, "") when
    there is none, it is longer than MAX_TOKEN, or a byte it needs is not captured."""
    limit = p + length
    stop = min(limit, ctx.end)
    data = ctx.data
    start = p + idx
    if start >= limit:
        return 0, ""
    tend = _TOKEN.match(data, start, stop).end() if start < stop else start
    if tend == start or tend - start > MAX_TOKEN:
        return 0, ""
    token = data[start:tend].decode("ascii")
    if tend < limit:
        if tend >= stop or data[tend] not in b" \t\r\n":
            return 0, ""
        tend = _SPACES.match(data, tend, stop).end()
    return tend - p, token


def _txt_line(ctx: Ctx, prefix: str, p: int, idx: int, length: int) -> int:
    """Print the line at p+idx (up to CR LF or LF) after prefix; the index of the next line,
    or 0 when the text ends or is not a text line."""
    limit = p + length
    stop = min(limit, ctx.end)
    data = ctx.data
    start = p + idx
    e = _LINE.match(data, start, stop).end() if start < stop else start
    if e >= limit:
        ctx.w(prefix + data[start:e].decode("latin-1"))
        ctx.w(" [|%s]" % ctx.proto)
        return 0
    if e >= stop:
        raise Truncated()
    c = data[e]
    if c == 0x0A:
        ctx.w(prefix + data[start:e].decode("latin-1"))
        return e + 1 - p
    if c == 0x0D:
        if e + 1 >= limit:
            return 0
        if e + 1 >= stop:
            raise Truncated()
        if data[e + 1] == 0x0A:
            ctx.w(prefix + data[start:e].decode("latin-1"))
            return e + 2 - p
    return 0


def _txt_lines(ctx: Ctx, p: int, length: int) -> None:
    """-v: every line of the text, each after a newline and a tab, up to the first that is
    not a whole text line (that one as _txt_line prints it)."""
    limit = p + length
    stop = min(limit, ctx.end)
    whole = _LINES.match(ctx.data, p, stop).end() if p < stop else p
    if whole > p:       # a CR in these lines is always the start of a CR LF
        text = ctx.data[p:whole - 1].decode("ascii").replace("\r\n", "\n")
        if text.endswith("\r"):
            text = text[:-1]
        ctx.w("\n\t" + text.replace("\n", "\n\t"))
    if whole < limit:
        _txt_line(ctx, "\n\t", p, whole - p, length)


def _starts_with_command(data: bytes, p: int, stop: int, cmds) -> bool:
    """True when the text at p (captured up to stop) starts with one of cmds and a space (what
    _fetch_token would find: commands are upper-case letters, '-' and '_' only)."""
    space = data.find(b" ", p, min(stop, p + MAX_TOKEN + 1))
    return space > p and data[p:space].upper().decode("latin-1") in cmds


def first_line_text(data: bytes, p: int, length: int, end: int, cmds, proto: str,
                    lead: str = "") -> str | None:
    """What txtproto_print prints without -v ("HTTP: GET / HTTP/1.1"), after lead, when the
    text starts with one of cmds (any text when cmds is None) and its first line ends with LF or
    CR LF, captured (end) and within the payload; None otherwise."""
    stop = min(p + length, end)
    if cmds is not None and not _starts_with_command(data, p, stop, cmds):
        return None
    e = data.find(b"\n", p, stop)
    if e < 0:
        return None
    line = data[p:e - 1] if e > p and data[e - 1] == 0x0D else data[p:e]
    if line.translate(None, _LINE_BYTES):     # a byte no text line holds (_LINE)
        return None
    return "%s%s: %s" % (lead, proto.upper(), line.decode("latin-1"))


def txtproto_print(ctx: Ctx, p: int, length: int, cmds, proto: str) -> None:
    ctx.proto = proto
    print_this = cmds is None
    if cmds is not None and _starts_with_command(ctx.data, p, min(p + length, ctx.end), cmds):
        print_this = True
    elif cmds is not None:
        idx, token = _fetch_token(ctx, p, 0, length)
        if idx:
            if token.upper() in cmds:
                print_this = True
            else:       # a response: the second token is a 3-digit status code
                idx, token = _fetch_token(ctx, p, idx, length)
                if idx and len(token) == 3 and token.isdigit() and token.isascii():
                    print_this = True
    ctx.w(proto.upper())
    if print_this:
        if ctx.opts.verbose:
            ctx.w(", length: %u" % length)
            _txt_lines(ctx, p, length)
        else:
            _txt_line(ctx, ": ", p, 0, length)


def not_ssh_text(data: bytes, p: int, length: int, end: int) -> str | None:
    """"" (ssh_print prints nothing) when the 4 captured bytes at p are not "SSH-"; None when
    ssh_print must look further."""
    if p + 4 <= end and data[p:p + 4] != b"SSH-":
        return ""
    return None


def ssh_print(ctx: Ctx, p: int, length: int) -> None:
    ctx.proto = "ssh"
    if not_ssh_text(ctx.data, p, length, ctx.end) is not None:
        return
    for i, ch in enumerate(b"SSH-"):
        if ctx.u8(p + i) != ch:
            return
    idx = 4
    while idx < length:
        c = ctx.u8(p + idx)
        if c == 0x0A:
            break
        if c == 0x0D:
            if idx + 1 >= length or ctx.u8(p + idx + 1) != 0x0A:
                return
            break
        if not _isprint(c):
            return
        idx += 1
    else:
        return
    ctx.w(": SSH: " + ctx.data[p:p + idx].decode("latin-1"))


__all__ = ["txtproto_print", "first_line_text", "ssh_print", "not_ssh_text", "HTTP_CMDS",
           "RTSP_CMDS", "Truncated"]
