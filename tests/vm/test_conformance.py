"""vm.conformance against the bpf_conformance suite (../shared/conformance/ebpf)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vm import conformance

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "conformance" / "ebpf"
TESTS = sorted((SUITE / "tests").glob("*.data"))
NEGATIVE = sorted((SUITE / "negative").glob("*.data"))
need_suite = pytest.mark.skipif(not SUITE.is_dir(), reason=f"conformance data absent: {SUITE}")

# Why each negative file must fail: a pattern its reason must match.
FIELD_WORD = {"offset": "off", "src": "src", "imm": "imm", "dst": "dst"}
NEGATIVE_REASONS = {
    "empty": r"no program|empty file",
    "empty_instructions": r"no program",
    "error": r"expected an error \(Invalid\), but the program returned",
    "incorrect_return_value_high_bits": r"wrong result 0x8877665544332211, expected 0x8977665544332211",
    "invalid_imm32_dec_range": r"asm: immediate 2147483648 out of 32-bit range",
    "invalid_imm32_hex_range": r"asm: immediate 0x100000000 out of 32-bit range",
    "invalid_label": r"asm: undefined label 'NOT_A_LABEL'",
    "invalid_lock": r"asm: invalid number of operands for lock",
    "invalid_lock2": r"asm: invalid number of operands for lock",
    "invalid_mnemonic": r"asm: invalid mnemonic 'ldxq'",
    "invalid_offset": r"asm: invalid memory operand",
    "invalid_offset_range": r"asm: offset \+0x10000 out of 16-bit range",
    "invalid_operand_count": r"asm: lddw takes 2 operands, got 1",
    "invalid_register": r"asm: invalid register '%r50'",
    "invalid_unknown_directive": r"unknown section '-- Unknown directive'",
}


def _expected_negative_reason(name: str) -> str:
    if name in NEGATIVE_REASONS:
        return NEGATIVE_REASONS[name]
    m = re.fullmatch(r"unused-.*-(offset|src|imm|dst)", name)
    assert m, f"no expectation for negative file {name}"
    return rf"program refused \(IllegalProgram: pc 0: .*{FIELD_WORD[m.group(1)]} must be 0, is \d+\)"


@need_suite
@pytest.mark.parametrize("path", TESTS, ids=[p.stem for p in TESTS])
def test_suite_file_passes(path):
    result = conformance.run_file(path)
    assert result.passed, result.line()


@need_suite
@pytest.mark.parametrize("path", NEGATIVE, ids=[p.stem for p in NEGATIVE])
def test_negative_file_fails_for_the_right_reason(path):
    result = conformance.run_file(path)
    assert not result.passed, result.line()
    assert re.search(_expected_negative_reason(path.stem), result.reason), result.line()


@need_suite
def test_suite_counts():
    assert len(TESTS) == 313 and len(NEGATIVE) == 60


@need_suite
def test_command_line_summary_and_status():
    picked = [str(TESTS[0]), str(NEGATIVE[0])]
    proc = subprocess.run([sys.executable, "-m", "vm.conformance", *picked],
                          capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"PASS {TESTS[0].stem}"
    assert lines[1].startswith(f"FAIL {NEGATIVE[0].stem}: ")
    assert lines[-1] == "1 passed, 1 failed"
    assert proc.returncode == 1
    proc = subprocess.run([sys.executable, "-m", "vm.conformance", str(TESTS[0])],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.splitlines()[-1] == "1 passed, 0 failed" and proc.returncode == 0


# Hand-made files for the runner's own rules (sections, raw formats, error semantics).
RUNNER_CASES = [
    ("result_ok", "-- asm\nmov %r0, 7\nexit\n-- result\n0x7\n", True, ""),
    ("decimal_result", "-- asm\nmov %r0, 7\nexit\n-- result\n7\n", True, ""),
    ("mem_len", "-- asm\nmov %r0, %r2\nexit\n-- mem\n01 02 03\n-- result\n0x3\n", True, ""),
    ("raw_words", "-- raw\n0x00000007000000b7\n0x0000000000000095\n-- result\n0x7\n", True, ""),
    ("raw_bytes", "-- raw\nb7 00 00 00 07 00 00 00\n95 00 00 00 00 00 00 00\n-- result\n0x7\n",
     True, ""),
    ("asm_raw_agree", "-- asm\nmov %r0, 7\nexit\n-- raw\n0x00000007000000b7\n0x95\n"
                      "-- result\n0x7\n", True, ""),
    ("asm_raw_differ", "-- asm\nmov %r0, 8\nexit\n-- raw\n0x00000007000000b7\n0x95\n"
                       "-- result\n0x7\n", False, "differ at pc 0"),
    ("refused_as_expected", "-- raw\n0x00000001000100b7\n0x95\n-- error\nreserved\n", True, ""),
    ("runtime_error_expected", "-- asm\nldxw %r0, [%r1+64]\nexit\n-- mem\n00\n-- error\nbounds\n",
     True, ""),
    ("runtime_error_unexpected", "-- asm\nldxw %r0, [%r1+64]\nexit\n-- result\n0x0\n", False,
     "MemoryFault: pc 0: read of 4 bytes at memory\\+64 out of bounds"),
    ("budget", "-- asm\nja -1\n-- result\n0x0\n", False, "BudgetExceeded"),
    ("unwind", "-- asm\nmov %r1, 0\ncall 5\nmov %r0, 2\nexit\n-- result\n0x0\n", True, ""),
    ("no_expectation", "-- asm\nmov %r0, 1\nexit\n", False, "no -- result or -- error"),
    ("two_results", "-- asm\nexit\n-- result\n1\n2\n", False, "exactly one value"),
    ("junk_before", "hello\n-- asm\nexit\n-- result\n0\n", False, "line 1: text outside"),
    ("bad_mem", "-- asm\nexit\n-- mem\nzz\n-- result\n0\n", False, "line 4: invalid memory byte"),
    ("asm_error_line", "# head\n-- asm\nmov %r0, 1\nmov %r0, %r11\nexit\n-- result\n0\n", False,
     "line 4: asm: invalid register '%r11'"),
    ("c_ignored", "-- c\nint main() { # not a comment\n}\n-- asm\nmov %r0, 1\nexit\n"
                  "-- no register offset\ncall instruction\n-- result\n1\n", True, ""),
]


@pytest.mark.parametrize("name,text,passes,reason", RUNNER_CASES, ids=[c[0] for c in RUNNER_CASES])
def test_runner_rules(tmp_path, name, text, passes, reason):
    path = tmp_path / f"{name}.data"
    path.write_text(text)
    result = conformance.run_file(path)
    assert result.passed == passes, result.line()
    assert re.search(reason, result.reason), result.line()


def test_unreadable_and_blank_files(tmp_path):
    assert conformance.run_file(tmp_path / "missing.data").reason.startswith("cannot read")
    (tmp_path / "blank.data").write_text("\n\n")
    assert conformance.run_file(tmp_path / "blank.data").reason == "empty file"
