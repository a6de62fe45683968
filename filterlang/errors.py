"""Filter compile errors that point at the expression text."""
from __future__ import annotations


class FilterError(Exception):
    """A filter that does not compile. ``.expr`` is the text, ``.span`` = (start, end) offsets."""

    def __init__(self, message: str, expr: str = "", span: tuple[int, int] | None = None):
        super().__init__(message)
        self.message = message
        self.expr = expr
        self.span = span

    def caret(self) -> str:
        """The expression with a ``^^^`` line under the offending text."""
        if self.span is None or not self.expr:
            return ""
        start, end = self.span
        start = max(0, min(start, len(self.expr)))
        end = max(start + 1, min(end, len(self.expr) + 1))
        return f"{self.expr}\n{' ' * start}{'^' * (end - start)}"

    def __str__(self) -> str:
        text = self.message
        if self.span is not None:
            text += f" (column {self.span[0] + 1})"
        pointer = self.caret()
        return f"{text}\n{pointer}" if pointer else text
