"""Problems found while importing, reported all at once with where they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# An import stops writing at the first problem but keeps reading, so a user sees up to this many
# problems in one go instead of fixing a file one error at a time.
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    index: int | None = None
    item_id: str | None = None
    field: str | None = None
    # Where the other record of a pair is (a duplicate id: the record that used it first).
    first_line: int | None = None
    first_index: int | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.index is not None:
            where.append(f"item #{self.index}")
        if self.item_id is not None:
            where.append(f"id {self.item_id!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = f"{'; '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"


def problem_position(problem: Problem) -> tuple:
    """Sort key: problems of the whole file first, then by line, column and record index (a
    file's problems are found in several passes: parsing, then images, then a syntax error)."""
    return (
        problem.line is not None or problem.index is not None,
        problem.line if problem.line is not None else -1,
        problem.column or 0,
        problem.index if problem.index is not None else -1,
    )


class ImportFailed(Exception):
    """Raised when an import finds problems; nothing of it is kept."""

    code = "import_invalid"

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        self.problems = sorted(problems, key=problem_position)
        problems = self.problems
        self.truncated = truncated
        first = str(problems[0]) if problems else "unknown problem"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"Import failed, nothing was imported: {first}{more}")

    def as_error(self) -> dict:
        return {
            "code": self.code,
            "message": str(self),
            "details": {
                "problems": [problem.as_dict() for problem in self.problems],
                "truncated": self.truncated,
            },
        }
