//! Record keys, values and headers as the configured Kafka Connect converters write them.
//!
//! JSON converters are pure (sluice-debezium). Avro converters register each schema once with the
//! schema registry under its subject and frame bodies with the id (Confluent wire format). The id
//! is cached per schema *instance*: the record layer hands out one shared `Arc<Schema>` per table
//! version, so the hot path neither renders the Avro schema text nor hashes it, only encodes the
//! body.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sluice_debezium::avro;
use sluice_debezium::config::Converter;
use sluice_debezium::connect::{ConnectValue, Schema};
use sluice_debezium::header::simple_header_value;
use sluice_debezium::json;
use sluice_debezium::record::{DirectRow, Header, Record};
use sluice_registry::{RegistryClient, RegistryClientConfig};

use crate::error::KafkaError;

/// Cached ids above this many schema instances are dropped (old table versions).
const MAX_CACHED_SCHEMAS: usize = 10_000;

/// One side (key or value) of a record, serialized as its converter does.
#[derive(Debug)]
enum SideSerializer {
    Json { schemas_enable: bool },
    Avro(AvroSide),
}

#[derive(Debug)]
struct AvroSide {
    client: RegistryClient,
    is_key: bool,
    /// Schema instance (pointer) → the schema kept alive and its id per topic.
    ids: HashMap<usize, CachedSchema>,
    /// The last schema instance and topic looked up, and their id: consecutive records nearly
    /// always share them (every row of a table), so most lookups end here without hashing.
    last: Option<(Arc<Schema>, String, u32)>,
}

/// A schema instance kept alive (so its address is not reused while cached) and its registry id
/// under each topic it was sent to.
#[derive(Debug)]
struct CachedSchema {
    _schema: Arc<Schema>,
    ids: Vec<(String, u32)>,
}

impl AvroSide {
    /// Appends the Confluent wire format's header: the magic byte and the schema's id.
    async fn frame(
        &mut self,
        topic: &str,
        schema: &Arc<Schema>,
        out: &mut Vec<u8>,
    ) -> Result<(), KafkaError> {
        let id = self.id(topic, schema).await?;
        out.push(avro::MAGIC_BYTE);
        out.extend_from_slice(&id.to_be_bytes());
        Ok(())
    }

    async fn id(&mut self, topic: &str, schema: &Arc<Schema>) -> Result<u32, KafkaError> {
        if let Some((last, last_topic, id)) = &self.last
            && Arc::ptr_eq(last, schema)
            && last_topic == topic
        {
            return Ok(*id);
        }
        let id = self.lookup(topic, schema).await?;
        match &mut self.last {
            Some((last, last_topic, last_id)) => {
                if !Arc::ptr_eq(last, schema) {
                    *last = Arc::clone(schema);
                }
                if last_topic != topic {
                    topic.clone_into(last_topic);
                }
                *last_id = id;
            }
            None => self.last = Some((Arc::clone(schema), topic.to_owned(), id)),
        }
        Ok(id)
    }

    /// The id from the per-instance cache, or registered with the registry.
    async fn lookup(&mut self, topic: &str, schema: &Arc<Schema>) -> Result<u32, KafkaError> {
        let ptr = Arc::as_ptr(schema) as usize;
        if let Some(cached) = self.ids.get(&ptr)
            && let Some((_, id)) = cached.ids.iter().find(|(t, _)| t == topic)
        {
            return Ok(*id);
        }
        let text = avro::avro_schema_string(schema).map_err(KafkaError::record)?;
        let record_name = schema.name.as_deref();
        let subject = self
            .client
            .client_config()
            .subject(topic, self.is_key, record_name)
            .map_err(KafkaError::registry)?;
        let id = self.client.register(&subject, &text).await.map_err(KafkaError::registry)?;
        if self.ids.len() >= MAX_CACHED_SCHEMAS {
            self.ids.clear();
        }
        self.ids
            .entry(ptr)
            .or_insert_with(|| CachedSchema { _schema: Arc::clone(schema), ids: Vec::new() })
            .ids
            .push((topic.to_owned(), id));
        Ok(id)
    }
}

impl SideSerializer {
    fn new(
        converter: &Converter,
        props: &BTreeMap<String, String>,
        prefix: &str,
        is_key: bool,
        default_registry: Option<&str>,
    ) -> Result<Self, KafkaError> {
        match converter {
            Converter::Json { schemas_enable } => {
                Ok(SideSerializer::Json { schemas_enable: *schemas_enable })
            }
            Converter::Avro { registry_url } => {
                let mut props = props.clone();
                if registry_url.is_none() {
                    let url = default_registry.ok_or_else(|| {
                        KafkaError::config(
                            format!("{prefix}.schema.registry.url"),
                            "the Avro converter needs a schema registry: set this property, or run \
                             the embedded registry (the default of `sluice run`)",
                        )
                    })?;
                    props.insert(format!("{prefix}.schema.registry.url"), url.to_owned());
                }
                let config = RegistryClientConfig::from_converter_properties(&props, prefix)
                    .map_err(KafkaError::registry)?;
                let client = RegistryClient::new(config).map_err(KafkaError::registry)?;
                Ok(SideSerializer::Avro(AvroSide { client, is_key, ids: HashMap::new(), last: None }))
            }
        }
    }

    /// Serializes into `out` (cleared first); `false` means the Kafka key or value is null.
    async fn serialize(
        &mut self,
        topic: &str,
        schema: Option<&Arc<Schema>>,
        value: Option<&ConnectValue>,
        out: &mut Vec<u8>,
    ) -> Result<bool, KafkaError> {
        out.clear();
        match self {
            SideSerializer::Json { schemas_enable } => {
                match json::serialize(schema.map(|s| &**s), value, *schemas_enable)
                    .map_err(KafkaError::record)?
                {
                    Some(bytes) => {
                        *out = bytes;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            SideSerializer::Avro(side) => {
                let (Some(schema), Some(value)) = (schema, value) else { return Ok(false) };
                if value.is_null() {
                    return Ok(false);
                }
                side.frame(topic, schema, out).await?;
                avro::encode(schema, value, out).map_err(KafkaError::record)?;
                Ok(true)
            }
        }
    }
}

/// Serializes whole records: key, value and headers.
#[derive(Debug)]
pub struct RecordSerializer {
    key: SideSerializer,
    value: SideSerializer,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    /// The record headers `headers` was made from: records share their context headers, which
    /// are then converted once, not for every record.
    headers_of: Option<Arc<[Header]>>,
}

/// A serialized record, borrowing the serializer's buffers until the next record.
#[derive(Debug)]
pub struct SerializedRecord<'a> {
    /// Key bytes, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes, `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Header names and bytes (SimpleHeaderConverter form), in order.
    pub headers: &'a [(String, Option<Vec<u8>>)],
}

impl RecordSerializer {
    /// Serializers for the connector's `key.converter` and `value.converter`. Avro converters
    /// without `*.schema.registry.url` use `default_registry` (the embedded registry's URL).
    pub fn new(
        key: &Converter,
        value: &Converter,
        props: &BTreeMap<String, String>,
        default_registry: Option<&str>,
    ) -> Result<Self, KafkaError> {
        Ok(RecordSerializer {
            key: SideSerializer::new(key, props, "key.converter", true, default_registry)?,
            value: SideSerializer::new(value, props, "value.converter", false, default_registry)?,
            key_buf: Vec::with_capacity(256),
            value_buf: Vec::with_capacity(1024),
            headers: Vec::new(),
            headers_of: None,
        })
    }

    /// Serializes one record (registering its schemas on first sight).
    pub async fn serialize(&mut self, record: &Record) -> Result<SerializedRecord<'_>, KafkaError> {
        let has_key = self
            .key
            .serialize(&record.topic, record.key_schema.as_ref(), record.key.as_ref(), &mut self.key_buf)
            .await?;
        let has_value = match &record.value {
            None => {
                self.value_buf.clear();
                false
            }
            Some(v) => {
                self.value
                    .serialize(&record.topic, record.value_schema.as_ref(), Some(v), &mut self.value_buf)
                    .await?
            }
        };
        self.convert_headers(&record.headers);
        Ok(SerializedRecord {
            key: has_key.then_some(self.key_buf.as_slice()),
            value: has_value.then_some(self.value_buf.as_slice()),
            headers: &self.headers,
        })
    }

    /// True when both converters are Avro: then [`RecordBuilder::direct_row`]'s rows can be
    /// serialized by [`RecordSerializer::serialize_direct`].
    ///
    /// [`RecordBuilder::direct_row`]: sluice_debezium::record::RecordBuilder::direct_row
    pub fn writes_direct_rows(&self) -> bool {
        matches!((&self.key, &self.value), (SideSerializer::Avro(_), SideSerializer::Avro(_)))
    }

    /// Serializes a row written straight to Avro: the same bytes [`RecordSerializer::serialize`]
    /// gives the record the general path builds for it. Only when
    /// [`RecordSerializer::writes_direct_rows`].
    pub async fn serialize_direct(
        &mut self,
        row: &DirectRow<'_>,
    ) -> Result<SerializedRecord<'_>, KafkaError> {
        let (SideSerializer::Avro(key), SideSerializer::Avro(value)) = (&mut self.key, &mut self.value)
        else {
            return Err(KafkaError::Internal(
                "a direct row needs the Avro converter for key and value".into(),
            ));
        };
        self.key_buf.clear();
        let has_key = match row.key_schema() {
            Some(schema) => {
                key.frame(row.topic(), schema, &mut self.key_buf).await?;
                row.write_key(&mut self.key_buf).map_err(KafkaError::record)?
            }
            None => false,
        };
        self.value_buf.clear();
        value.frame(row.topic(), row.value_schema(), &mut self.value_buf).await?;
        row.write_value(&mut self.value_buf).map_err(KafkaError::record)?;
        self.convert_headers(row.headers());
        Ok(SerializedRecord {
            key: has_key.then_some(self.key_buf.as_slice()),
            value: Some(self.value_buf.as_slice()),
            headers: &self.headers,
        })
    }

    /// The headers in SimpleHeaderConverter form, converted again only for another set: records
    /// share their context headers.
    fn convert_headers(&mut self, headers: &Arc<[Header]>) {
        if self.headers_of.as_ref().is_some_and(|h| Arc::ptr_eq(h, headers)) {
            return;
        }
        self.headers.clear();
        for h in headers.iter() {
            self.headers.push((h.key.clone(), simple_header_value(&h.schema, &h.value)));
        }
        self.headers_of = Some(headers.clone());
    }
}
