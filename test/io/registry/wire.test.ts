// The Confluent wire format as pure functions: framing round trip and every way bytes can fail to be wire format.
import { thrownBy } from '../../helpers/errors.ts';
import { describe, expect, it } from 'vitest';
import type { TagstreamError } from '../../../src/errors.ts';
import { HEADER_BYTES, MAGIC_BYTE, decodeWire, encodeWire } from '../../../src/io/registry/wire.ts';

const decodeError = (bytes: Buffer | null): TagstreamError => thrownBy(() => decodeWire(bytes));

describe('encodeWire', () => {
  it('writes magic byte 0, the schema id big-endian, then the body', () => {
    const out = encodeWire(0x01020304, Buffer.from([0xaa, 0xbb]));
    expect([...out]).toEqual([0, 1, 2, 3, 4, 0xaa, 0xbb]);
    expect(MAGIC_BYTE).toBe(0);
    expect(HEADER_BYTES).toBe(5);
  });

  it('frames an empty body as the bare header', () => {
    expect([...encodeWire(7, Buffer.alloc(0))]).toEqual([0, 0, 0, 0, 7]);
  });
});

describe('decodeWire', () => {
  it.each([0, 1, 999, 0xffffffff])('round-trips schema id %i and the body bytes', (id) => {
    const body = Buffer.from('avro body \u00e9', 'utf8');
    const { schemaId, body: back } = decodeWire(encodeWire(id, body));
    expect(schemaId).toBe(id);
    expect(back.equals(body)).toBe(true);
  });

  it('accepts exactly a header, with an empty body', () => {
    const { schemaId, body } = decodeWire(Buffer.from([0, 0, 0, 1, 0]));
    expect(schemaId).toBe(256);
    expect(body.length).toBe(0);
  });

  it('rejects null (a tombstone) with DECODE_MAGIC_BYTE', () => {
    const e = decodeError(null);
    expect(e.code).toBe('DECODE_MAGIC_BYTE');
    expect(e.isRecordError).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/empty value/);
  });

  it('rejects an empty buffer with DECODE_MAGIC_BYTE', () => {
    expect(decodeError(Buffer.alloc(0)).code).toBe('DECODE_MAGIC_BYTE');
  });

  it.each([1, 2, 3, 4])('rejects a %i-byte buffer as too short for the header', (n) => {
    const e = decodeError(Buffer.alloc(n));
    expect(e.code).toBe('DECODE_MAGIC_BYTE');
    expect(e.message).toContain(`value is ${n} bytes`);
  });

  it('rejects a wrong magic byte and names it', () => {
    const e = decodeError(Buffer.from([1, 0, 0, 0, 1, 2]));
    expect(e.code).toBe('DECODE_MAGIC_BYTE');
    expect(e.message).toContain('magic byte is 1');
  });

  it('rejects plain JSON text', () => {
    const e = decodeError(Buffer.from('{"tag_id":"x"}'));
    expect(e.code).toBe('DECODE_MAGIC_BYTE');
    expect(e.message).toContain(`magic byte is ${'{'.charCodeAt(0)}`);
  });
});
