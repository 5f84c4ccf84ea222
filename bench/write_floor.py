"""The write floor of a rebuild: how long PostgreSQL takes just to store the rows the views hold.

A rebuild must write every row of every view table; however fast its fold, it cannot beat the
server taking those rows. This copies each table the rebuild made (all rows, already encoded:
`COPY … TO STDOUT (FORMAT BINARY)` into memory, untimed) into an empty twin with the same keys and
indexes (`LIKE … INCLUDING ALL`, as the rebuild's fresh tables have them before its COPY) and
times only that COPY and its commit. Events ÷ that time is the fastest rebuild these rows allow.

    python bench/write_floor.py --database URL     # the tables of a rebuilt ledger at URL
"""

from __future__ import annotations

import argparse
import time
from typing import Iterable


def copy_floor(database_url: str, tables: Iterable) -> dict:
    """Seconds PostgreSQL takes to COPY in (and commit) the rows of `tables`, each into a fresh twin."""
    import psycopg

    from ledger.storage import parse_database_url

    config = parse_database_url(database_url)
    seconds, rows, size = 0.0, 0, 0
    with psycopg.connect(config.postgres_conninfo) as conn:
        if config.schema:
            conn.execute(f'SET search_path TO "{config.schema}"')
        for t in tables:
            data = bytearray()
            with conn.cursor() as cur:
                with cur.copy(f"COPY {t.name} TO STDOUT (FORMAT BINARY)") as copy:
                    for chunk in copy:
                        data += chunk
                rows += cur.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
                cur.execute(f"DROP TABLE IF EXISTS floor_{t.name}")
                cur.execute(f"CREATE TABLE floor_{t.name} (LIKE {t.name} INCLUDING ALL)")
            conn.commit()
            size += len(data)
            started = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy(f"COPY floor_{t.name} FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(bytes(data))
            conn.commit()
            seconds += time.perf_counter() - started
            conn.execute(f"DROP TABLE floor_{t.name}")
            conn.commit()
    return {"rows": rows, "mb": size / 2**20, "seconds": seconds}


def main() -> None:
    from projections import all_views

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL URL whose views are built")
    args = parser.parse_args()
    tables = [t for v in all_views() for t in v.tables]
    floor = copy_floor(args.database, tables)
    print(f"{floor['rows']:,} rows ({floor['mb']:,.0f} MB) copied in {floor['seconds']:.1f} s "
          f"= {floor['rows'] / floor['seconds']:,.0f} rows/s")


if __name__ == "__main__":
    main()
