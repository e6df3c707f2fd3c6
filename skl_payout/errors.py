"""Errors a user can act on: each names where the problem is and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One finding: an error stops a run, a warning is reported and the run goes on."""

    severity: str  # "error" | "warning" | "note"
    where: str  # file, with row/line and column or key path
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def as_dict(self) -> dict:
        return {"severity": self.severity, "where": self.where, "message": self.message, "hint": self.hint}


class PayoutError(Exception):
    """Raised for bad input; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("error", "skl-payout", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self):  # whole, with every problem, from a writer process (parallel.py)
        return PayoutError, (self.problems,)


def error(where: str, message: str, hint: str | None = None) -> Problem:
    return Problem("error", where, message, hint)


def warning(where: str, message: str, hint: str | None = None) -> Problem:
    return Problem("warning", where, message, hint)


def note(where: str, message: str, hint: str | None = None) -> Problem:
    """Said aloud but nothing to fix: a figure that cannot be checked, a role paid twice as the rules intend."""
    return Problem("note", where, message, hint)
