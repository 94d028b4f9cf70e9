//! Fuzzes the Avro schema texts that reach sluice from outside: the registry's schema parser and
//! compatibility checker (any HTTP client can POST a schema), and the Avro → Connect schema
//! conversion the Kafka-to-Delta path applies to schemas fetched from a registry. Neither may
//! panic, loop forever or blow the stack on hostile input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_debezium::avro::connect_schema_from_avro;
use sluice_registry::compatibility::can_read;
use sluice_registry::schema::AvroSchema;

/// A Debezium-shaped schema to check arbitrary ones against, both ways.
const ENVELOPE: &str = r#"{"type":"record","name":"Envelope","namespace":"f.public.t","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"name","type":["null","string"],"default":null},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"m","type":{"type":"map","values":"long"}},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"x","type":{"type":"fixed","name":"F","size":4}}],"connect.name":"f.public.t.Value"}],"default":null},{"name":"after","type":["null","Value"],"default":null},{"name":"op","type":"string"}],"connect.name":"f.public.t.Envelope"}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = connect_schema_from_avro(text);
    if let Ok(schema) = AvroSchema::parse(text) {
        let _ = schema.canonical();
        let _ = can_read(&schema, &schema);
        if let Ok(envelope) = AvroSchema::parse(ENVELOPE) {
            let _ = can_read(&schema, &envelope);
            let _ = can_read(&envelope, &schema);
        }
    }
});
