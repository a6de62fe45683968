"""The -x/-xx, -X/-XX and -A/-AA dumps appended after a packet's summary."""
from __future__ import annotations


def hex_lines(data: bytes, indent: str = "\n\t", offset: int = 0) -> str:
    """-x: hex words, 16 bytes a line."""
    out = []
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        words = []
        for i in range(0, len(chunk) - 1, 2):
            words.append(" %02x%02x" % (chunk[i], chunk[i + 1]))
        if len(chunk) & 1:
            words.append(" %02x" % chunk[-1])
        out.append("%s0x%04x: %s" % (indent, offset + start, "".join(words)))
    return "".join(out)


def _printable(b: int) -> str:
    return chr(b) if 0x21 <= b < 0x7F else "."


def hex_ascii_lines(data: bytes, indent: str = "\n\t", offset: int = 0) -> str:
    """-X: hex words padded to 40 columns, then the bytes as ASCII."""
    out = []
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        words = []
        for i in range(0, len(chunk) - 1, 2):
            words.append(" %02x%02x" % (chunk[i], chunk[i + 1]))
        if len(chunk) & 1:
            words.append(" %02x" % chunk[-1])
        text = "".join(_printable(b) for b in chunk)
        out.append("%s0x%04x: %-40s  %s" % (indent, offset + start, "".join(words), text))
    return "".join(out)


def ascii_text(data: bytes) -> str:
    """-A: the bytes as text, other controls as '.' (CR rules as tcpdump's ascii_print)."""
    out = ["\n"]
    n = len(data)
    for i, b in enumerate(data):
        if b == 0x0D:
            # tcpdump drops a CR before LF and the CR in the last two bytes.
            if n - i - 1 > 1 and data[i + 1] != 0x0A:
                out.append(".")
        elif 0x21 <= b < 0x7F or b in (0x09, 0x20, 0x0A):
            out.append(chr(b))
        else:
            out.append(".")
    return "".join(out)
