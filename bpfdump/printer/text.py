"""Line-oriented text protocols over TCP: HTTP, RTSP, FTP, SMTP (txtproto) and the SSH banner."""
from __future__ import annotations

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


def _isprint(c: int) -> bool:
    return 0x20 <= c < 0x7F


def _fetch_token(ctx: Ctx, p: int, idx: int, length: int) -> tuple[int, str]:
    token = []
    while idx < length:
        if not ctx.have(p + idx, 1):
            return 0, ""
        c = ctx.data[p + idx]
        if c >= 0x80:
            return 0, ""
        if c in (0x20, 0x09, 0x0D, 0x0A):
            break
        if not _isprint(c):
            return 0, ""
        if len(token) + 2 > MAX_TOKEN + 1:
            return 0, ""
        token.append(chr(c))
        idx += 1
    if not token:
        return 0, ""
    while idx < length:
        if not ctx.have(p + idx, 1):
            break
        c = ctx.data[p + idx]
        if c in (0x0D, 0x0A) or not _isprint(c) or c not in (0x20, 0x09):
            break
        idx += 1
    return idx, "".join(token)


def _txt_line(ctx: Ctx, prefix: str, p: int, idx: int, length: int) -> int:
    start = idx
    while idx < length:
        c = ctx.u8(p + idx)
        if c == 0x0A:
            ctx.w(prefix + ctx.data[p + start:p + idx].decode("latin-1"))
            return idx + 1
        if c == 0x0D:
            if idx + 1 >= length:
                return 0
            if ctx.u8(p + idx + 1) == 0x0A:
                ctx.w(prefix + ctx.data[p + start:p + idx].decode("latin-1"))
                return idx + 2
            return 0
        if not _isprint(c) and c != 0x09:
            return 0
        idx += 1
    ctx.w(prefix + ctx.data[p + start:p + idx].decode("latin-1"))
    ctx.w(" [|%s]" % ctx.proto)
    return 0


def txtproto_print(ctx: Ctx, p: int, length: int, cmds, proto: str) -> None:
    ctx.proto = proto
    print_this = cmds is None
    if cmds is not None:
        idx, token = _fetch_token(ctx, p, 0, length)
        if idx:
            if token.upper() in cmds:
                print_this = True
            idx, token = _fetch_token(ctx, p, idx, length)
            if idx and len(token) == 3 and token.isdigit() and token.isascii():
                print_this = True
    ctx.w(proto.upper())
    if print_this:
        if ctx.opts.verbose:
            ctx.w(", length: %u" % length)
            idx = 0
            while idx < length:
                idx = _txt_line(ctx, "\n\t", p, idx, length)
                if not idx:
                    break
        else:
            _txt_line(ctx, ": ", p, 0, length)


def ssh_print(ctx: Ctx, p: int, length: int) -> None:
    ctx.proto = "ssh"
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


__all__ = ["txtproto_print", "ssh_print", "HTTP_CMDS", "RTSP_CMDS", "Truncated"]
