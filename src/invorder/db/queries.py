"""The named-query loader: every statement lives in `sql/queries/*.sql` under a
`-- name: verb_noun :kind` header, and is handed out by name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal, LiteralString, cast

QueryKind = Literal["one", "many", "exec", "execrows"]
_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s+:(?P<kind>one|many|execrows|exec)\s*$")


def sql_dir() -> Path:
    """The `sql/` folder: shipped inside the wheel as `invorder/_sql`, or the repository's
    own `sql/` in an editable install."""
    packaged = Path(str(files("invorder"))) / "_sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "sql"


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: QueryKind
    # Text read from the package's own .sql files, never built from values: psycopg may treat
    # it as a literal query string.
    sql: LiteralString
    source: str


def parse_queries(text: str, source: str) -> list[Query]:
    """Split one .sql file into its named queries (comment lines after a header document it)."""
    queries: list[Query] = []
    name: str | None = None
    kind: QueryKind = "exec"
    body: list[str] = []

    def flush() -> None:
        if name is not None:
            sql = "\n".join(line for line in body if not line.lstrip().startswith("--")).strip()
            queries.append(Query(name, kind, sql.rstrip(";").strip(), source))

    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            flush()
            name, kind, body = match["name"], cast(QueryKind, match["kind"]), []
        elif name is not None:
            body.append(line)
    flush()
    return queries


class Queries:
    """Every named query, read once; `Q.claim_jobs` is the query named `claim_jobs`."""

    def __init__(self, folder: Path) -> None:
        self._by_name: dict[str, Query] = {}
        for path in sorted(folder.glob("*.sql")):
            for query in parse_queries(path.read_text(), path.name):
                if query.name in self._by_name:
                    raise ValueError(f"query {query.name!r} is defined twice ({path.name})")
                self._by_name[query.name] = query

    def __getattr__(self, name: str) -> Query:
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in sql/queries") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)


@cache
def queries() -> Queries:
    return Queries(sql_dir() / "queries")
