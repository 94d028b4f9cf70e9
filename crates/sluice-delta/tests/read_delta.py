#!/usr/bin/env python3
"""Reads a Delta table with readers independent of delta-rs' Rust writer and prints what they see.

Usage: read_delta.py TABLE_PATH [APP_ID ...]

Prints one JSON object:
  version, protocol [reader, writer], reader_features, writer_features,
  schema   {column: Delta type as in the log's schemaString},
  txn      {app_id: version or null}            (deltalake's DeltaTable.transaction_version),
  rows     [row dicts sorted by id]              (deltalake QueryBuilder (DataFusion) -> polars),
  duckdb   {"rows": [...], "types": {...}} or null when DuckDB's delta extension is not installed.
Values that JSON lacks (decimals, dates, timestamps, bytes) are printed as Python's str().
Install the readers with scripts/install-delta-readers.
"""
import json
import sys

import polars as pl
from deltalake import DeltaTable, QueryBuilder


def duckdb_rows(path, version):
    try:
        import duckdb
        from duckdb_extensions import import_extension
    except ImportError:
        return None
    con = duckdb.connect()
    con.sql("SET autoinstall_known_extensions=false")
    con.sql("SET autoload_known_extensions=false")
    con.sql("SET TimeZone='UTC'")
    import_extension("delta", con=con)
    con.sql("LOAD delta")
    # The version deltalake read: a writer committing in between must not make the readers differ.
    res = con.execute("select * from delta_scan(?, version := ?) order by id", [path, version])
    cols = [d[0] for d in res.description]
    types = {d[0]: str(d[1]) for d in res.description}
    return {"rows": [dict(zip(cols, r)) for r in res.fetchall()], "types": types}


def main():
    path, apps = sys.argv[1], sys.argv[2:]
    dt = DeltaTable(path)
    proto = dt.protocol()
    schema = json.loads(dt.schema().to_json())
    table = QueryBuilder().register("t", dt).execute("select * from t").read_all()
    df = pl.DataFrame(table)
    out = {
        "version": dt.version(),
        "protocol": [proto.min_reader_version, proto.min_writer_version],
        "reader_features": proto.reader_features,
        "writer_features": proto.writer_features,
        "schema": {f["name"]: f["type"] for f in schema["fields"]},
        "txn": {a: dt.transaction_version(a) for a in apps},
        "rows": sorted(df.to_dicts(), key=lambda r: r.get("id")),
        "duckdb": duckdb_rows(path, dt.version()),
    }
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
