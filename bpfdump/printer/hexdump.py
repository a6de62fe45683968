"""The -x/-xx, -X/-XX and -A/-AA dumps appended after a packet's summary."""
from __future__ import annotations

# byte -> the character -X shows for it (graphic ASCII as itself, the rest as '.')
_GRAPHIC = bytes(b if 0x21 <= b < 0x7F else 0x2E for b in range(256))
# byte -> the character -A shows for it (graphic, tab, space and LF as themselves, CR kept
# for the CR rules, the rest as '.')
_ASCII = bytes(b if 0x21 <= b < 0x7F or b in (0x09, 0x20, 0x0A, 0x0D) else 0x2E
               for b in range(256))


def _hex_words(data: bytes) -> str:
    """The bytes as hex, two bytes a word, words one space apart: 40 characters per 16
    bytes (a full line's 39 and the space before the next line's first word)."""
    return data.hex(" ", -2)


def hex_lines(data: bytes, indent: str = "\n\t", offset: int = 0) -> str:
    """-x: hex words, 16 bytes a line."""
    words = _hex_words(data)
    return "".join(["%s0x%04x:  %s" % (indent, offset + start, words[start * 5 // 2:
                                                                      start * 5 // 2 + 39])
                    for start in range(0, len(data), 16)])


def hex_ascii_lines(data: bytes, indent: str = "\n\t", offset: int = 0) -> str:
    """-X: hex words padded to 40 columns, then the bytes as ASCII."""
    words = _hex_words(data)
    text = data.translate(_GRAPHIC).decode("ascii")
    return "".join(["%s0x%04x:  %-39s  %s" % (indent, offset + start,
                                              words[start * 5 // 2:start * 5 // 2 + 39],
                                              text[start:start + 16])
                    for start in range(0, len(data), 16)])


def ascii_text(data: bytes) -> str:
    """-A: the bytes as text, other controls as '.' (CR rules as tcpdump's ascii_print)."""
    text = data.translate(_ASCII).decode("ascii")
    if "\r" not in text:
        return "\n" + text
    # tcpdump drops a CR before LF and the CR in the last two bytes; other CRs are '.'
    cut = max(len(text) - 2, 0)
    body, tail = text[:cut], text[cut:]
    body = body.replace("\r\n", "\n")
    if body.endswith("\r") and tail.startswith("\n"):
        body = body[:-1]
    return "\n" + body.replace("\r", ".") + tail.replace("\r", "")
