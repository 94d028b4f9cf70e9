#!/usr/bin/env python3
"""Reads Delta tables with two readers independent of sluice and prints every row in a canonical form.

Usage: read_delta_rows.py TABLE_PATH ...

Prints one JSON object, keyed by TABLE_PATH:
  version   the table version deltalake loaded,
  schema    {column: Delta type} from the log's schemaString,
  deltalake [row dicts]  (deltalake QueryBuilder (DataFusion) -> polars),
  duckdb    [row dicts]  (DuckDB's delta extension), or null when it is not installed.
Rows come in no particular order. Values are canonical so both readers and PostgreSQL can be compared
exactly: timestamps as integer microseconds since the epoch (UTC), decimals as plain text with their
scale, bytes as hex, strings longer than 256 characters as "md5:<hex>:<length>", the rest as JSON.
Install the readers with scripts/install-delta-readers.
"""
import datetime
import decimal
import hashlib
import json
import sys

import polars as pl
from deltalake import DeltaTable, QueryBuilder

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_US = datetime.timedelta(microseconds=1)


def canonical(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return (v - EPOCH) // ONE_US
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, str) and len(v) > 256:
        return "md5:%s:%d" % (hashlib.md5(v.encode("utf-8")).hexdigest(), len(v))
    return v


def canonical_rows(rows):
    return [{k: canonical(v) for k, v in r.items()} for r in rows]


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
    res = con.execute("select * from delta_scan(?, version := ?)", [path, version])
    cols = [d[0] for d in res.description]
    return canonical_rows(dict(zip(cols, r)) for r in res.fetchall())


def read(path):
    dt = DeltaTable(path)
    schema = json.loads(dt.schema().to_json())
    table = QueryBuilder().register("t", dt).execute("select * from t").read_all()
    return {
        "version": dt.version(),
        "schema": {f["name"]: f["type"] for f in schema["fields"]},
        "deltalake": canonical_rows(pl.DataFrame(table).to_dicts()),
        "duckdb": duckdb_rows(path, dt.version()),
    }


def main():
    json.dump({p: read(p) for p in sys.argv[1:]}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
