"""Errors for bad input. Messages name the file, the record (line) and the field or problem,
never a record's content (it may hold sample data)."""
from __future__ import annotations


class GenoLakeError(Exception):
    """Base class; ``exit_code`` is the job's exit status for this kind of failure."""

    exit_code = 1


class InputDataError(GenoLakeError):
    """An input file that cannot be used as it is."""

    exit_code = 3

    def __init__(self, path: str, problem: str, line: int | None = None, field: str | None = None):
        self.path, self.problem, self.line, self.field = str(path), problem, line, field
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")


class LinkageError(GenoLakeError):
    """Genotype samples and phenotype records do not link well enough to go on."""

    exit_code = 4
