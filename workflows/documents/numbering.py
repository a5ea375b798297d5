"""Article and clause numbers computed while a template renders.

Templates ask for the next number instead of typing it, so an optional clause
that is left out (no late fee, no letters) never leaves a gap, and an admin can
insert an article without renumbering the rest.
"""

from workflows.documents.formatting import chinese_numeral


class ArticleNumbering:
    """One counter per rendered document: 第一条 … and 1.1, 1.1.1 under the current article."""

    def __init__(self):
        self._article = 0
        self._clauses: list[int] = []

    def article(self) -> str:
        """Open the next article; its clauses start again at .1."""
        self._article += 1
        self._clauses = []
        return f"第{chinese_numeral(self._article)}条"

    def clause(self, depth: int = 1) -> str:
        """Next clause at `depth` (1 gives 3.1, 2 gives 3.1.1); deeper counters restart."""
        if self._article == 0 or depth < 1 or depth > len(self._clauses) + 1:
            raise ValueError(f"clause depth {depth} has no parent clause")
        self._clauses = self._clauses[:depth] + [0] * (depth - len(self._clauses))
        self._clauses[depth - 1] += 1
        return ".".join(str(number) for number in (self._article, *self._clauses))
