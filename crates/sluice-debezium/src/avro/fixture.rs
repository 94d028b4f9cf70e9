//! Connect schemas and values of the live oracle's `customers` table (reference §1.8, §2.3),
//! built independently of the record layer so the serializers can be checked on their own.

use std::sync::Arc;

use crate::connect::{ConnectValue, Field, Schema, SchemaType};

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.to_owned(), schema: Arc::new(schema) }
}

fn string() -> Schema {
    Schema::primitive(SchemaType::String)
}

fn int64() -> Schema {
    Schema::primitive(SchemaType::Int64)
}

const PREFIX: &str = "PostgreSQL_server.public.customers";

fn row_fields() -> Vec<Field> {
    vec![
        field("id", Schema::primitive(SchemaType::Int32).with_default(ConnectValue::Int32(0))),
        field("first_name", string()),
        field("last_name", string()),
        field("email", string()),
    ]
}

/// `PostgreSQL_server.public.customers.Key`.
pub(crate) fn key_schema() -> Schema {
    Schema::structure(format!("{PREFIX}.Key"), vec![row_fields().remove(0)])
}

/// `io.debezium.connector.postgresql.Source`, version 1.
pub(crate) fn source_schema() -> Schema {
    let snapshot = string()
        .optional()
        .named("io.debezium.data.Enum")
        .versioned(1)
        .with_parameter(
            "allowed",
            "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental",
        )
        .with_default(ConnectValue::String("false".into()));
    Schema::structure(
        "io.debezium.connector.postgresql.Source",
        vec![
            field("version", string()),
            field("connector", string()),
            field("name", string()),
            field("ts_ms", int64()),
            field("snapshot", snapshot),
            field("db", string()),
            field("sequence", string().optional()),
            field("ts_us", int64().optional()),
            field("ts_ns", int64().optional()),
            field("schema", string()),
            field("table", string()),
            field("txId", int64().optional()),
            field("lsn", int64().optional()),
            field("xmin", int64().optional()),
            field("origin", string().optional()),
            field("origin_lsn", int64().optional()),
        ],
    )
    .versioned(1)
}

/// `PostgreSQL_server.public.customers.Envelope`, version 2.
pub(crate) fn envelope_schema() -> Schema {
    let value = Schema::structure(format!("{PREFIX}.Value"), row_fields()).optional();
    let block = Schema::structure(
        "event.block",
        vec![field("id", string()), field("total_order", int64()), field("data_collection_order", int64())],
    )
    .versioned(1)
    .optional();
    Schema::structure(
        format!("{PREFIX}.Envelope"),
        vec![
            field("before", value.clone()),
            field("after", value),
            field("source", source_schema()),
            field("transaction", block),
            field("op", string()),
            field("ts_ms", int64().optional()),
            field("ts_us", int64().optional()),
            field("ts_ns", int64().optional()),
        ],
    )
    .versioned(2)
}

fn s(v: &str) -> ConnectValue {
    ConnectValue::String(v.to_owned())
}

/// The oracle's record seq 1: `INSERT … 'Sally','Thomas'`.
pub(crate) fn sally_insert() -> ConnectValue {
    let after = ConnectValue::Struct(vec![
        ConnectValue::Int32(2),
        s("Sally"),
        s("Thomas"),
        s("sally.thomas@acme.com"),
    ]);
    let source = ConnectValue::Struct(vec![
        s("3.6.3.Final"),
        s("postgresql"),
        s("PostgreSQL_server"),
        ConnectValue::Int64(1_795_234_936_771),
        ConnectValue::Null, // snapshot: left at its default "false"
        s("postgres"),
        s("[null,\"24374112\"]"),
        ConnectValue::Int64(1_795_234_936_771_153),
        ConnectValue::Int64(1_795_234_936_771_153_000),
        s("public"),
        s("customers"),
        ConnectValue::Int64(784),
        ConnectValue::Int64(24_374_112),
        ConnectValue::Null,
        ConnectValue::Null,
        ConnectValue::Null,
    ]);
    ConnectValue::Struct(vec![
        ConnectValue::Null,
        after,
        source,
        ConnectValue::Null,
        s("c"),
        ConnectValue::Int64(1_795_234_936_818),
        ConnectValue::Int64(1_795_234_936_818_890),
        ConnectValue::Int64(1_795_234_936_818_890_369),
    ])
}

/// Reference §1.8, verbatim: the oracle's JsonConverter output for record seq 1, pretty-printed
/// with two-space indentation.
pub(crate) const ORACLE_SALLY_INSERT_JSON: &str = r#"{
  "schema": {
    "type": "struct",
    "fields": [
      {
        "type": "struct",
        "fields": [
          {
            "type": "int32",
            "optional": false,
            "default": 0,
            "field": "id"
          },
          {
            "type": "string",
            "optional": false,
            "field": "first_name"
          },
          {
            "type": "string",
            "optional": false,
            "field": "last_name"
          },
          {
            "type": "string",
            "optional": false,
            "field": "email"
          }
        ],
        "optional": true,
        "name": "PostgreSQL_server.public.customers.Value",
        "field": "before"
      },
      {
        "type": "struct",
        "fields": [
          {
            "type": "int32",
            "optional": false,
            "default": 0,
            "field": "id"
          },
          {
            "type": "string",
            "optional": false,
            "field": "first_name"
          },
          {
            "type": "string",
            "optional": false,
            "field": "last_name"
          },
          {
            "type": "string",
            "optional": false,
            "field": "email"
          }
        ],
        "optional": true,
        "name": "PostgreSQL_server.public.customers.Value",
        "field": "after"
      },
      {
        "type": "struct",
        "fields": [
          {
            "type": "string",
            "optional": false,
            "field": "version"
          },
          {
            "type": "string",
            "optional": false,
            "field": "connector"
          },
          {
            "type": "string",
            "optional": false,
            "field": "name"
          },
          {
            "type": "int64",
            "optional": false,
            "field": "ts_ms"
          },
          {
            "type": "string",
            "optional": true,
            "name": "io.debezium.data.Enum",
            "version": 1,
            "parameters": {
              "allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"
            },
            "default": "false",
            "field": "snapshot"
          },
          {
            "type": "string",
            "optional": false,
            "field": "db"
          },
          {
            "type": "string",
            "optional": true,
            "field": "sequence"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "ts_us"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "ts_ns"
          },
          {
            "type": "string",
            "optional": false,
            "field": "schema"
          },
          {
            "type": "string",
            "optional": false,
            "field": "table"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "txId"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "lsn"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "xmin"
          },
          {
            "type": "string",
            "optional": true,
            "field": "origin"
          },
          {
            "type": "int64",
            "optional": true,
            "field": "origin_lsn"
          }
        ],
        "optional": false,
        "name": "io.debezium.connector.postgresql.Source",
        "version": 1,
        "field": "source"
      },
      {
        "type": "struct",
        "fields": [
          {
            "type": "string",
            "optional": false,
            "field": "id"
          },
          {
            "type": "int64",
            "optional": false,
            "field": "total_order"
          },
          {
            "type": "int64",
            "optional": false,
            "field": "data_collection_order"
          }
        ],
        "optional": true,
        "name": "event.block",
        "version": 1,
        "field": "transaction"
      },
      {
        "type": "string",
        "optional": false,
        "field": "op"
      },
      {
        "type": "int64",
        "optional": true,
        "field": "ts_ms"
      },
      {
        "type": "int64",
        "optional": true,
        "field": "ts_us"
      },
      {
        "type": "int64",
        "optional": true,
        "field": "ts_ns"
      }
    ],
    "optional": false,
    "name": "PostgreSQL_server.public.customers.Envelope",
    "version": 2
  },
  "payload": {
    "before": null,
    "after": {
      "id": 2,
      "first_name": "Sally",
      "last_name": "Thomas",
      "email": "sally.thomas@acme.com"
    },
    "source": {
      "version": "3.6.3.Final",
      "connector": "postgresql",
      "name": "PostgreSQL_server",
      "ts_ms": 1795234936771,
      "snapshot": "false",
      "db": "postgres",
      "sequence": "[null,\"24374112\"]",
      "ts_us": 1795234936771153,
      "ts_ns": 1795234936771153000,
      "schema": "public",
      "table": "customers",
      "txId": 784,
      "lsn": 24374112,
      "xmin": null,
      "origin": null,
      "origin_lsn": null
    },
    "transaction": null,
    "op": "c",
    "ts_ms": 1795234936818,
    "ts_us": 1795234936818890,
    "ts_ns": 1795234936818890369
  }
}"#;

/// Reference §2.3, verbatim: the Envelope schema as registered, printed with Python's default
/// `", "` / `": "` separators.
pub(crate) const ORACLE_ENVELOPE_AVSC: &str = r#"{"type": "record", "name": "Envelope", "namespace": "PostgreSQL_server.public.customers", "fields": [{"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [{"name": "id", "type": {"type": "int", "connect.default": 0}, "default": 0}, {"name": "first_name", "type": "string"}, {"name": "last_name", "type": "string"}, {"name": "email", "type": "string"}], "connect.name": "PostgreSQL_server.public.customers.Value"}], "default": null}, {"name": "after", "type": ["null", "Value"], "default": null}, {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [{"name": "version", "type": "string"}, {"name": "connector", "type": "string"}, {"name": "name", "type": "string"}, {"name": "ts_ms", "type": "long"}, {"name": "snapshot", "type": [{"type": "string", "connect.version": 1, "connect.parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}, "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"], "default": "false"}, {"name": "db", "type": "string"}, {"name": "sequence", "type": ["null", "string"], "default": null}, {"name": "ts_us", "type": ["null", "long"], "default": null}, {"name": "ts_ns", "type": ["null", "long"], "default": null}, {"name": "schema", "type": "string"}, {"name": "table", "type": "string"}, {"name": "txId", "type": ["null", "long"], "default": null}, {"name": "lsn", "type": ["null", "long"], "default": null}, {"name": "xmin", "type": ["null", "long"], "default": null}, {"name": "origin", "type": ["null", "string"], "default": null}, {"name": "origin_lsn", "type": ["null", "long"], "default": null}], "connect.version": 1, "connect.name": "io.debezium.connector.postgresql.Source"}}, {"name": "transaction", "type": ["null", {"type": "record", "name": "block", "namespace": "event", "fields": [{"name": "id", "type": "string"}, {"name": "total_order", "type": "long"}, {"name": "data_collection_order", "type": "long"}], "connect.version": 1, "connect.name": "event.block"}], "default": null}, {"name": "op", "type": "string"}, {"name": "ts_ms", "type": ["null", "long"], "default": null}, {"name": "ts_us", "type": ["null", "long"], "default": null}, {"name": "ts_ns", "type": ["null", "long"], "default": null}], "connect.version": 2, "connect.name": "PostgreSQL_server.public.customers.Envelope"}"#;

/// Reference §2.3, verbatim: the Key schema exactly as registered.
pub(crate) const ORACLE_KEY_AVSC: &str = r#"{"type":"record","name":"Key","namespace":"PostgreSQL_server.public.customers","fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0}],"connect.name":"PostgreSQL_server.public.customers.Key"}"#;

/// A small deterministic generator (xorshift64*) for randomized tests, so failures reproduce from
/// the seed and case number.
pub(crate) struct Gen(pub(crate) u64);

impl Gen {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
