"""Runner for bpf_conformance ``.data`` files: ``python -m vm.conformance FILE...``.

A file holds sections introduced by ``-- NAME`` lines: ``asm`` (assembly), ``raw`` (the
program as 64-bit words ``0x...`` or as lines of 8 hex bytes), ``mem`` (hex bytes of the input
buffer), ``result`` (the expected r0) and ``error`` (the program must be refused); ``c`` and
``no register offset`` are ignored.  ``#`` starts a comment.  The program runs in raw mode
(r1 = the mem buffer, r2 = its length) with helper 5 = "unwind".

Verdicts: a file passes when its program runs and r0 equals ``-- result``, or when it has an
``-- error`` section naming an error and the program is refused (at load or while running).
A file that cannot be parsed or assembled, a program refused without an expected error, an
``-- error`` section with no text, or a wrong result all fail, with the reason.
"""
from __future__ import annotations

import re
import struct
import sys
from collections import namedtuple
from pathlib import Path

from . import ebpf, interp
from .helpers import CONFORMANCE_HELPERS

__all__ = ["Case", "Result", "DataError", "parse", "run_case", "run_file", "main"]

SECTIONS = ("asm", "raw", "mem", "result", "error", "c", "no register offset")
BUDGET = 1_000_000


class DataError(ValueError):
    """A malformed ``.data`` file; names the line."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class Case(namedtuple("Case", "name asm asm_line raw mem result error",
                      defaults=(None, 0, None, b"", None, None))):
    """One parsed file: ``asm`` (assembly text, its lines numbered as in the file) or ``raw``
    (program bytes), ``asm_line`` (file line of the "-- asm" header), ``mem``, the expected
    ``result`` and ``error`` (None: no "-- error" section; "": an empty one)."""

    __slots__ = ()


class Result(namedtuple("Result", "name passed reason value", defaults=("", None))):
    """The verdict on one file: ``reason`` says why it failed (or what refused it when that was
    expected), ``value`` is r0 when the program ran."""

    __slots__ = ()

    def line(self) -> str:
        if self.passed:
            return f"PASS {self.name}"
        return f"FAIL {self.name}: {self.reason}"


_HEX_BYTE = re.compile(r"[0-9a-fA-F]{1,2}\Z")


def _number(text: str, line: int, what: str) -> int:
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise DataError(line, f"invalid {what} {text!r}") from None


def _parse_raw(lines: list[tuple[int, str]]) -> bytes:
    out = bytearray()
    for number, text in lines:
        tokens = text.split()
        if len(tokens) == 8 and all(_HEX_BYTE.match(t) for t in tokens) \
                and not any(t.lower().startswith("0x") for t in tokens):
            out += bytes(int(t, 16) for t in tokens)
            continue
        for token in tokens:
            value = _number(token, number, "raw instruction word")
            if not 0 <= value < 1 << 64:
                raise DataError(number, f"raw instruction word {token} exceeds 64 bits")
            out += struct.pack("<Q", value)
    return bytes(out)


def _parse_mem(lines: list[tuple[int, str]]) -> bytes:
    out = bytearray()
    for number, text in lines:
        for token in text.split():
            if not _HEX_BYTE.match(token):
                raise DataError(number, f"invalid memory byte {token!r}")
            out.append(int(token, 16))
    return bytes(out)


def parse(text: str, name: str = "<data>") -> Case:
    """Split a ``.data`` file into its sections; raises :class:`DataError`."""
    sections: dict[str, list[tuple[int, str]]] = {}
    headers: dict[str, int] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if line.startswith("--"):
            section = line[2:].strip()
            if section not in SECTIONS:
                raise DataError(number, f"unknown section {line.strip()!r}")
            if section in sections:
                raise DataError(number, f"duplicate section {line.strip()!r}")
            sections[section] = []
            headers[section] = number
            current = section
            continue
        if current in ("c", "no register offset"):
            continue
        if current == "asm":
            sections["asm"].append((number, line))
            continue
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        if current is None:
            raise DataError(number, f"text outside any section: {line.strip()!r}")
        sections[current].append((number, body))
    if "asm" not in sections and "raw" not in sections:
        raise DataError(1, "no program (no -- asm or -- raw section)")
    asm = None
    if "asm" in sections:
        asm = "\n".join(text for _, text in sections["asm"])
        if not asm.split("#")[0].strip() and not any(
                t.split("#", 1)[0].strip() for _, t in sections["asm"]):
            raise DataError(headers["asm"], "empty -- asm section")
    raw = _parse_raw(sections["raw"]) if "raw" in sections else None
    if raw is not None and not raw:
        raise DataError(headers["raw"], "empty -- raw section")
    result = None
    if "result" in sections:
        values = sections["result"]
        if len(values) != 1:
            raise DataError(headers["result"], "-- result needs exactly one value")
        number, value = values[0]
        result = _number(value, number, "result")
        if not 0 <= result < 1 << 64:
            raise DataError(number, f"result {value} exceeds 64 bits")
    error = None
    if "error" in sections:
        error = " ".join(text for _, text in sections["error"])
    return Case(name, asm, headers.get("asm", 0), raw,
                _parse_mem(sections.get("mem", [])), result, error)


def _program(case: Case) -> ebpf.Program:
    program = None
    if case.asm is not None:
        try:
            program = ebpf.assemble(case.asm)
        except ebpf.AsmError as exc:
            raise DataError(case.asm_line + exc.line, f"asm: {exc.reason}") from None
        if not program.insns:
            raise DataError(case.asm_line, "no instructions in -- asm")
    if case.raw is not None:
        raw_program = ebpf.Program.decode(case.raw)
        if program is not None and program != raw_program:
            pc = next((i for i, (a, b) in enumerate(zip(program, raw_program)) if a != b),
                      min(len(program), len(raw_program)))
            raise DataError(case.asm_line, f"-- asm and -- raw differ at pc {pc}")
        program = raw_program
    return program


def run_case(case: Case) -> Result:
    """Assemble or decode, load, run and judge one case."""
    try:
        program = _program(case)
    except DataError as exc:
        return Result(case.name, False, str(exc))
    refused = value = None
    try:
        value = interp.run_raw(program, case.mem, helpers=CONFORMANCE_HELPERS, budget=BUDGET)
    except interp.VMError as exc:
        refused = f"{type(exc).__name__}: {exc}"
    if case.error:                                  # an error is expected
        if refused is not None:
            return Result(case.name, True, f"refused as expected ({refused})")
        return Result(case.name, False,
                      f"expected an error ({case.error}), but the program returned {value:#x}",
                      value)
    if case.result is None:
        why = "the -- error section names no error" if case.error is not None \
            else "no -- result or -- error to check"
        if refused is not None:
            return Result(case.name, False, f"program refused ({refused}); {why}")
        return Result(case.name, False, f"{why} (the program returned {value:#x})", value)
    if refused is not None:
        return Result(case.name, False, f"program refused ({refused}); expected {case.result:#x}")
    if value != case.result:
        return Result(case.name, False, f"wrong result {value:#x}, expected {case.result:#x}",
                      value)
    return Result(case.name, True, "", value)


def run_file(path) -> Result:
    """Run one ``.data`` file; never raises for bad content."""
    path = Path(path)
    name = path.stem
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return Result(name, False, f"cannot read: {exc.strerror or exc}")
    if not text.strip():
        return Result(name, False, "empty file")
    try:
        case = parse(text, name)
    except DataError as exc:
        return Result(name, False, str(exc))
    return run_case(case)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m vm.conformance FILE.data...", file=sys.stderr)
        return 2
    files: list[Path] = []
    for arg in args:
        path = Path(arg)
        files.extend(sorted(path.glob("*.data")) if path.is_dir() else [path])
    passed = failed = 0
    for path in files:
        result = run_file(path)
        print(result.line())
        if result.passed:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
