//! Fuzzes the Avro binary decoder and the Confluent wire-format unframing under a Debezium-shaped
//! schema (an envelope with optional nested structs, decimals, arrays, maps and every primitive):
//! bytes from a topic must never panic the Kafka-to-Delta path.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sluice_debezium::connect::{Field, Schema, SchemaType};
use sluice_debezium::avro::{decode, unframe};

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.into(), schema: Arc::new(schema) }
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let p = Schema::primitive;
        let value = Schema::structure(
            "fuzz.public.t.Value",
            vec![
                field("i8", p(SchemaType::Int8)),
                field("i16", p(SchemaType::Int16).optional()),
                field("i32", p(SchemaType::Int32)),
                field("i64", p(SchemaType::Int64).optional()),
                field("f32", p(SchemaType::Float32)),
                field("f64", p(SchemaType::Float64).optional()),
                field("b", p(SchemaType::Boolean)),
                field("s", p(SchemaType::String).optional()),
                field("bytes", p(SchemaType::Bytes)),
                field(
                    "dec",
                    p(SchemaType::Bytes)
                        .named("org.apache.kafka.connect.data.Decimal")
                        .versioned(1)
                        .with_parameter("scale", "2"),
                ),
                field("arr", Schema::array(p(SchemaType::String).optional()).optional()),
                field("map", Schema::map(p(SchemaType::String), p(SchemaType::String).optional()).optional()),
                field("imap", Schema::map(p(SchemaType::Int16), p(SchemaType::Float64)).optional()),
            ],
        )
        .optional();
        Schema::structure(
            "fuzz.public.t.Envelope",
            vec![field("before", value.clone()), field("after", value), field("op", p(SchemaType::String))],
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode(schema(), data);
    if let Ok((_, body)) = unframe(data) {
        let _ = decode(schema(), body);
    }
});
