#!/usr/bin/env python3
"""Python deltalake's side of `sluice-bench merge`, and the check that both contenders agree.

    merge_bench.py TABLE BATCH.parquet...
        Merges each batch (sluice's change batches: the row columns, `_op` in 'c'/'u'/'d' and the
        metadata columns) into the Delta table at TABLE with DeltaTable.merge: delete when matched
        and `_op = 'd'`, update every column when matched otherwise, insert when not matched and
        not a delete. Only the merge calls are timed. Prints one JSON line.

    merge_bench.py --compare TABLE_A TABLE_B
        Reads both tables with polars (its own Parquet reader over deltalake's log), sorts them by
        `id` and compares every column. Prints one JSON line.

Needs deltalake and polars (scripts/install-delta-readers); pyarrow is not needed.
"""

import json
import sys
import time

KEY = "id"


def merge(table, batches):
    import deltalake
    import polars as pl
    from arro3.core import Table

    dt = deltalake.DeltaTable(table)
    seconds = []
    cpu = 0.0
    counts = {"inserted": 0, "updated": 0, "deleted": 0}
    for path in batches:
        # Read and hand over as Arrow before the clock starts: only the merge is timed.
        frame = pl.read_parquet(path)
        columns = frame.columns
        source = Table.from_arrow(frame)
        del frame
        cpu_start = time.process_time()
        start = time.perf_counter()
        metrics = (
            dt.merge(
                source=source,
                predicate=f"t.{KEY} = s.{KEY}",
                source_alias="s",
                target_alias="t",
            )
            .when_matched_delete(predicate="s._op = 'd'")
            .when_matched_update(
                updates={c: f"s.{c}" for c in columns if c != KEY},
                predicate="s._op <> 'd'",
            )
            .when_not_matched_insert(
                updates={c: f"s.{c}" for c in columns},
                predicate="s._op <> 'd'",
            )
            .execute()
        )
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
        counts["inserted"] += metrics["num_target_rows_inserted"]
        counts["updated"] += metrics["num_target_rows_updated"]
        counts["deleted"] += metrics["num_target_rows_deleted"]
        print(
            f"merge_bench.py: {path}: {seconds[-1]:.3f} s, {metrics['num_target_files_added']} files added",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "deltalake": deltalake.__version__,
                "merge_seconds": sum(seconds),
                "batch_seconds": seconds,
                "merge_cpu_seconds": cpu,
                "version": dt.version(),
                **counts,
            }
        )
    )


def compare(a, b):
    import polars as pl

    x = pl.read_delta(a).sort(KEY)
    y = pl.read_delta(b).sort(KEY)
    differs = [c for c in x.columns if c not in y.columns]
    differs += [c for c in y.columns if c not in x.columns]
    if x.height == y.height:
        differs += [
            c
            for c in x.columns
            if c in y.columns and not x[c].equals(y[c], check_dtypes=True, null_equal=True)
        ]
    ops = {row[0]: row[1] for row in x.group_by("_op").len().iter_rows()}
    print(
        json.dumps(
            {
                "rows": [x.height, y.height],
                "equal": x.height == y.height and not differs,
                "differs": differs,
                "sum_id": int(x[KEY].sum()) if x.height else 0,
                "ops": ops,
            }
        )
    )


def main(argv):
    if len(argv) == 3 and argv[0] == "--compare":
        compare(argv[1], argv[2])
    elif len(argv) >= 2 and not argv[0].startswith("-"):
        merge(argv[0], argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
