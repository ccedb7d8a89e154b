"""Print every table of a DuckDB warehouse with its row count (run with the loader's Python)."""

from __future__ import annotations

import sys

import duckdb


def main(path: str) -> int:
    connection = duckdb.connect(path, read_only=True)
    tables = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "order by table_schema, table_name"
    ).fetchall()
    if not tables:
        print("no tables were loaded")
        return 1
    print(f"{'table':<45} rows")
    for schema, table in tables:
        query = f'select count(*) from "{schema}"."{table}"'  # noqa: S608 (names from the catalog)
        (count,) = connection.execute(query).fetchone()
        print(f"{schema + '.' + table:<45} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "output/warehouse.duckdb"))
