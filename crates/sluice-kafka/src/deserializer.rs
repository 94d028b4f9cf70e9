//! Kafka record bytes back into Connect schemas and values, as a sink's AvroConverter reads them.
//!
//! Confluent wire format: magic byte, schema id, Avro body. The id's schema text comes from the
//! registry (cached), becomes a Connect schema the way AvroData.toConnectSchema does (cached per
//! id, so the hot path only decodes), and the body decodes under it. Works on topics written by
//! sluice and by the real Debezium alike: both register the same AvroData schemas.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_debezium::avro;
use sluice_debezium::connect::{ConnectValue, Schema};
use sluice_registry::RegistryClient;

use crate::error::KafkaError;

/// A decoded key or value with its schema.
pub type Decoded = (Arc<Schema>, ConnectValue);

/// Decodes Confluent-framed Avro through a registry.
#[derive(Debug)]
pub struct AvroDeserializer {
    client: RegistryClient,
    schemas: HashMap<u32, Arc<Schema>>,
}

/// Schemas kept per id; more ids than this (endless schema churn) start the cache afresh.
const MAX_CACHED_SCHEMAS: usize = 10_000;

impl AvroDeserializer {
    /// A deserializer resolving ids with `client`.
    pub fn new(client: RegistryClient) -> Self {
        AvroDeserializer { client, schemas: HashMap::new() }
    }

    /// Decodes one key or value; `None` bytes (a null key, a tombstone) decode to `None`.
    /// `what` names the record for errors (topic, partition, offset, key or value).
    pub async fn deserialize(
        &mut self,
        bytes: Option<&[u8]>,
        what: impl Fn() -> String,
    ) -> Result<Option<Decoded>, KafkaError> {
        let Some(bytes) = bytes else { return Ok(None) };
        let corrupt = |message: String| KafkaError::Corrupt { context: what(), message };
        let (id, body) = avro::unframe(bytes).map_err(|e| corrupt(e.to_string()))?;
        let schema = match self.schemas.get(&id) {
            Some(s) => Arc::clone(s),
            None => {
                let text = self.client.schema_by_id(id).await.map_err(KafkaError::registry)?;
                let schema = Arc::new(
                    avro::connect_schema_from_avro(&text)
                        .map_err(|e| corrupt(format!("schema id {id}: {e}")))?,
                );
                if self.schemas.len() >= MAX_CACHED_SCHEMAS {
                    self.schemas.clear();
                }
                self.schemas.insert(id, Arc::clone(&schema));
                schema
            }
        };
        let value = avro::decode(&schema, body).map_err(|e| corrupt(format!("schema id {id}: {e}")))?;
        Ok(Some((schema, value)))
    }
}
