// The in-memory registry (ids, BACKWARD checks), the Avro serde over the wire format, and registry error mapping.
import { rejectionOf } from '../../helpers/errors.ts';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../../src/errors.ts';
import {
  AvroSerde,
  NOT_YET,
  mapRegistryError,
  memoryRegistry,
  valueSubject,
  type AvroSchemaJson,
  type SchemaRegistryClient,
} from '../../../src/io/registry/registry.ts';
import { encodeWire } from '../../../src/io/registry/wire.ts';
import { loadSchema, type AvroRecordSchema } from '../../../src/schemas/catalog.ts';
import { sampleScan } from '../../helpers/ingest.ts';

const subject = (): string => valueSubject(`test-${randomUUID()}`);

/** The scan schema with one more field appended. */
function withField(field: Record<string, unknown>): AvroRecordSchema {
  const s = loadSchema('rfidScan');
  return { ...s, fields: [...s.fields, field as unknown as AvroRecordSchema['fields'][number]] };
}

describe('valueSubject', () => {
  it('is <topic>-value', () => {
    expect(valueSubject('rfid.scans')).toBe('rfid.scans-value');
  });
});

describe('memoryRegistry', () => {
  it('returns the same id for the same schema, and lists it once under the subject', async () => {
    const reg = memoryRegistry();
    const s = subject();
    const a = await reg.register(s, loadSchema('rfidScan'));
    const b = await reg.register(s, loadSchema('rfidScan'));
    expect(b).toBe(a);
    expect(reg.subjects().get(s)).toEqual([a]);
    expect(await reg.schemaById(a)).toEqual(loadSchema('rfidScan'));
  });

  it('gives different schemas different ids, and the same schema under another subject the same id', async () => {
    const reg = memoryRegistry();
    const [s1, s2] = [subject(), subject()];
    const scan = await reg.register(s1, loadSchema('rfidScan'));
    const tx = await reg.register(s1.replace('-value', '-tx-value'), loadSchema('posTransaction'));
    expect(tx).not.toBe(scan);
    expect(await reg.register(s2, loadSchema('rfidScan'))).toBe(scan);
    expect(reg.subjects().get(s2)).toEqual([scan]);
  });

  it('rejects a BACKWARD-incompatible change (a required field without default) with REGISTRY_INCOMPATIBLE', async () => {
    const reg = memoryRegistry();
    const s = subject();
    const v1 = await reg.register(s, loadSchema('rfidScan'));
    const e = await rejectionOf(reg.register(s, withField({ name: 'zone', type: 'string' })));
    expect(e.code).toBe('REGISTRY_INCOMPATIBLE');
    expect(e.isRecordError).toBe(false);
    expect(e.message).toContain(s);
    expect(reg.subjects().get(s)).toEqual([v1]);
  });

  it('accepts adding an optional field with a default as a new version', async () => {
    const reg = memoryRegistry();
    const s = subject();
    const v1 = await reg.register(s, loadSchema('rfidScan'));
    const v2 = await reg.register(s, withField({ name: 'zone', type: ['null', 'string'], default: null }));
    expect(v2).not.toBe(v1);
    expect(reg.subjects().get(s)).toEqual([v1, v2]);
  });

  it('accepts a required field on a brand-new subject (nothing to be compatible with)', async () => {
    const reg = memoryRegistry();
    const id = await reg.register(subject(), withField({ name: 'zone', type: 'string' }));
    expect(id).toBe(1);
  });

  // Confluent checks the subject's latest version even when the schema text already has an id under another
  // subject; the in-memory registry must too, or unit tests accept what the real registry answers with 409.
  it('checks BACKWARD compatibility for a schema already known under another subject', async () => {
    const reg = memoryRegistry();
    const incompatible = withField({ name: 'zone', type: 'string' });
    const [elsewhere, s] = [subject(), subject()];
    await reg.register(elsewhere, incompatible);
    await reg.register(s, loadSchema('rfidScan'));
    const e = await rejectionOf(reg.register(s, incompatible));
    expect(e.code).toBe('REGISTRY_INCOMPATIBLE');
  });

  it('schemaById rejects an unknown id with the record error DECODE_UNKNOWN_SCHEMA', async () => {
    const e = await rejectionOf(memoryRegistry().schemaById(999));
    expect(e.code).toBe('DECODE_UNKNOWN_SCHEMA');
    expect(e.isRecordError).toBe(true);
  });
});

describe('AvroSerde', () => {
  it('round-trips a value through the wire format with the registered id', async () => {
    const reg = memoryRegistry();
    const serde = new AvroSerde(reg);
    const topic = `test-${randomUUID()}`;
    const scan = sampleScan({ notes: 'left pole bent' });
    const bytes = (await serde.encoderFor(topic, loadSchema('rfidScan')))(scan);
    const id = reg.subjects().get(valueSubject(topic))?.[0];
    expect(bytes[0]).toBe(0);
    expect(bytes.readUInt32BE(1)).toBe(id);
    expect(await serde.decode(bytes)).toEqual(scan);
  });

  it('asks the registry once per schema id, even for concurrent decodes', async () => {
    const inner = memoryRegistry();
    let lookups = 0;
    const counting: SchemaRegistryClient = {
      register: (s, schema) => inner.register(s, schema),
      subjectsOf: (id) => inner.subjectsOf(id),
      schemaById: (id) => {
        lookups++;
        return inner.schemaById(id);
      },
    };
    const writer = new AvroSerde(inner);
    const encode = await writer.encoderFor(`test-${randomUUID()}`, loadSchema('rfidScan'));
    const scans = [sampleScan(), sampleScan(), sampleScan()];
    const reader = new AvroSerde(counting);
    expect(await Promise.all(scans.map((s) => reader.decode(encode(s))))).toEqual(scans);
    expect(await reader.decode(encode(scans[0]!))).toEqual(scans[0]);
    expect(lookups).toBe(1);
  });

  it('wraps an unencodable value as INTERNAL naming the topic', async () => {
    const serde = new AvroSerde(memoryRegistry());
    const topic = `test-${randomUUID()}`;
    const encode = await serde.encoderFor<unknown>(topic, loadSchema('rfidScan'));
    let caught: unknown;
    try {
      encode({ tag_id: 1 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TagstreamError);
    expect((caught as TagstreamError).code).toBe('INTERNAL');
    expect((caught as TagstreamError).message).toContain(`cannot encode for ${topic}`);
  });

  it('decode: bytes without the magic byte are DECODE_MAGIC_BYTE', async () => {
    const e = await rejectionOf(new AvroSerde(memoryRegistry()).decode(Buffer.from('not avro at all')));
    expect(e.code).toBe('DECODE_MAGIC_BYTE');
  });

  it('decode: null is DECODE_MAGIC_BYTE', async () => {
    expect((await rejectionOf(new AvroSerde(memoryRegistry()).decode(null))).code).toBe('DECODE_MAGIC_BYTE');
  });

  it('decode: an id the registry does not know is DECODE_UNKNOWN_SCHEMA', async () => {
    const e = await rejectionOf(
      new AvroSerde(memoryRegistry()).decode(encodeWire(999, Buffer.from([2, 0x61]))),
    );
    expect(e.code).toBe('DECODE_UNKNOWN_SCHEMA');
    expect(e.message).toContain('999');
  });

  it('decode: a truncated body and trailing bytes are DECODE_MALFORMED', async () => {
    const serde = new AvroSerde(memoryRegistry());
    const bytes = (await serde.encoderFor(`test-${randomUUID()}`, loadSchema('rfidScan')))(sampleScan());
    const truncated = await rejectionOf(serde.decode(bytes.subarray(0, bytes.length - 3)));
    expect(truncated.code).toBe('DECODE_MALFORMED');
    expect(truncated.isRecordError).toBe(true);
    const trailing = await rejectionOf(serde.decode(Buffer.concat([bytes, Buffer.from([1, 2, 3])])));
    expect(trailing.code).toBe('DECODE_MALFORMED');
  });

  it('decodeNow: decodes without waiting once decode() has known the schema and its topic, and never before', async () => {
    const serde = new AvroSerde(memoryRegistry());
    const topic = `test-${randomUUID()}`;
    const other = `test-${randomUUID()}`;
    const encode = await serde.encoderFor(topic, loadSchema('rfidScan'));
    await serde.encoderFor(other, loadSchema('posTransaction'));
    const scan = sampleScan({ notes: 'now' });
    const bytes = encode(scan);
    // The writer knows the type (it encoded with it), not yet that the id belongs to the topic read from.
    expect(serde.decodeNow(bytes, topic)).toBe(NOT_YET);
    expect(await serde.decode(bytes, topic)).toEqual(scan);
    expect(serde.decodeNow(bytes, topic)).toEqual(scan);
    expect(serde.decodeNow(bytes)).toEqual(scan);
    // Read from a topic whose subjects do not hold the id: refused by decode(), and decodeNow never decodes it.
    expect((await rejectionOf(serde.decode(bytes, other))).code).toBe('DECODE_WRONG_SUBJECT');
    expect(serde.decodeNow(bytes, other)).toBe(NOT_YET);
    // Bad bytes are the same record errors, thrown on the spot.
    const thrown = (f: () => unknown): TagstreamError => {
      try {
        f();
      } catch (e) {
        return e as TagstreamError;
      }
      throw new Error('expected a throw');
    };
    expect(thrown(() => serde.decodeNow(bytes.subarray(0, bytes.length - 3), topic)).code).toBe(
      'DECODE_MALFORMED',
    );
    expect(thrown(() => serde.decodeNow(null, topic)).code).toBe('DECODE_MAGIC_BYTE');
    // An id nobody has asked for yet waits for the registry.
    expect(new AvroSerde(memoryRegistry()).decodeNow(bytes, topic)).toBe(NOT_YET);
  });

  it('decode: a registry outage is passed through (not a record error), and the next decode asks again', async () => {
    const inner = memoryRegistry();
    const id = await inner.register(subject(), loadSchema('rfidScan'));
    let down = true;
    const flaky: SchemaRegistryClient = {
      register: (s, schema: AvroSchemaJson) => inner.register(s, schema),
      subjectsOf: (i) => inner.subjectsOf(i),
      schemaById: (i) =>
        down
          ? Promise.reject(new TagstreamError('REGISTRY_UNAVAILABLE', 'down', { retryable: true }))
          : inner.schemaById(i),
    };
    const serde = new AvroSerde(flaky);
    const scan = sampleScan();
    const { default: avro } = await import('avsc');
    const bytes = encodeWire(id, avro.Type.forSchema(loadSchema('rfidScan')).toBuffer(scan));
    const e = await rejectionOf(serde.decode(bytes));
    expect(e.code).toBe('REGISTRY_UNAVAILABLE');
    expect(e.isRecordError).toBe(false);
    down = false;
    expect(await serde.decode(bytes)).toEqual(scan);
  });
});

describe('mapRegistryError', () => {
  const url = 'http://127.0.0.1:8081/apis/ccompat/v7';

  it('404 on a schema id is the record error DECODE_UNKNOWN_SCHEMA', () => {
    const e = mapRegistryError(Object.assign(new Error('not found'), { status: 404 }), url, 'schema id 42');
    expect(e.code).toBe('DECODE_UNKNOWN_SCHEMA');
    expect(e.isRecordError).toBe(true);
    expect(e.message).toBe('schema id 42 is not in the schema registry');
  });

  it("404 on a subject is a REGISTRY_ERROR, not the record's fault", () => {
    const e = mapRegistryError({ status: 404, message: 'Subject not found' }, url, 'subject a-value');
    expect(e.code).toBe('REGISTRY_ERROR');
    expect(e.isRecordError).toBe(false);
    expect(e.message).toContain('404 Subject not found');
  });

  it('409 is REGISTRY_INCOMPATIBLE, not retryable, with the cause', () => {
    const cause = { status: 409, message: 'Schema being registered is incompatible' };
    const e = mapRegistryError(cause, url, 'subject rfid.scans-value');
    expect(e.code).toBe('REGISTRY_INCOMPATIBLE');
    expect(e.retryable).toBe(false);
    expect(e.cause).toBe(cause);
    expect(e.message).toContain('subject rfid.scans-value');
    expect(e.message).toContain('incompatible');
  });

  it('500 is REGISTRY_UNAVAILABLE, retryable, with the URL and the hint', () => {
    const e = mapRegistryError({ status: 500, message: 'Internal Server Error' }, url, 'schema id 1');
    expect(e.code).toBe('REGISTRY_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(url);
    expect(e.message).toContain('Internal Server Error');
    expect(e.message).toContain('SCHEMA_REGISTRY_URL');
  });

  it('a network error (no status) is REGISTRY_UNAVAILABLE, retryable', () => {
    const cause = new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    const e = mapRegistryError(cause, url, 'schema id 7');
    expect(e.code).toBe('REGISTRY_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.message).toContain('fetch failed');
    expect(e.message).toContain('npm run stack -- up');
  });

  it('names the socket code when the error has no message', () => {
    expect(mapRegistryError({ code: 'ECONNREFUSED' }, url, 'x').message).toContain('(ECONNREFUSED)');
    expect(mapRegistryError({ cause: { code: 'ENOTFOUND' } }, url, 'x').message).toContain('(ENOTFOUND)');
    expect(mapRegistryError(undefined, url, 'x').message).toContain('(no answer)');
  });

  it('another 4xx is REGISTRY_ERROR, not retryable', () => {
    const e = mapRegistryError({ status: 422, message: 'Invalid schema' }, url, 'subject s-value');
    expect(e.code).toBe('REGISTRY_ERROR');
    expect(e.retryable).toBe(false);
  });
});
