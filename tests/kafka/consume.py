"""Reads topics with confluent-kafka-python and decodes Avro through a schema registry.

The independent consumer of sluice's Kafka output: librdkafka fetches, Confluent's
SchemaRegistryClient resolves the ids in the wire format and AvroDeserializer (fastavro) decodes.
Prints one JSON object per record: topic, partition, offset, key, value, headers.

usage: consume.py BOOTSTRAP REGISTRY_URL IDLE_SECONDS MIN_RECORDS TOPIC...
Reads every partition of each topic from the beginning (by assignment: no consumer group), and
stops after MIN_RECORDS records once IDLE_SECONDS pass without a new one, or after 120 s.
"""

import base64
import decimal
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def main():
    bootstrap, registry_url, idle, minimum = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    topics = sys.argv[5:]
    registry = SchemaRegistryClient({"url": registry_url})
    deserializer = AvroDeserializer(registry)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "sluice-test-unused",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "allow.auto.create.topics": False,
    })
    assignment = []
    for topic in topics:
        # Wait for the topic to exist (sluice creates it before its first record).
        deadline = time.time() + 60
        while True:
            meta = consumer.list_topics(topic, timeout=20).topics[topic]
            if meta.error is None and meta.partitions:
                break
            if time.time() > deadline:
                raise SystemExit(f"topic {topic} does not exist: {meta.error}")
            time.sleep(0.5)
        for p in meta.partitions:
            assignment.append(TopicPartition(topic, p, OFFSET_BEGINNING))
    consumer.assign(assignment)
    seen, last, start = 0, time.time(), time.time()
    while time.time() - start < 120:
        msg = consumer.poll(0.2)
        if msg is None:
            if seen >= minimum and time.time() - last > idle:
                break
            continue
        if msg.error():
            raise SystemExit(f"consume error: {msg.error()}")
        topic = msg.topic()
        key = msg.key()
        key_raw = base64.b64encode(key).decode() if key is not None else None
        value = msg.value()
        if key is not None:
            key = deserializer(key, SerializationContext(topic, MessageField.KEY))
        if value is not None:
            value = deserializer(value, SerializationContext(topic, MessageField.VALUE))
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        print(json.dumps({
            "topic": topic, "partition": msg.partition(), "offset": msg.offset(),
            "key": plain(key), "key_raw": key_raw, "value": plain(value), "headers": headers,
        }), flush=True)
        seen += 1
        last = time.time()
    consumer.close()


if __name__ == "__main__":
    main()
