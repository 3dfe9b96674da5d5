// The Confluent wire format as pure functions: magic byte 0, a 4-byte big-endian schema id, then the Avro body.
import { recordError } from '../../errors.ts';

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

export function encodeWire(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeUInt32BE(schemaId, 1);
  body.copy(out, HEADER_BYTES);
  return out;
}

/** Splits a framed value; throws DECODE_MAGIC_BYTE when the bytes are not in the wire format at all. */
export function decodeWire(bytes: Buffer | null): { schemaId: number; body: Buffer } {
  if (bytes === null || bytes.length === 0)
    throw recordError(
      'DECODE_MAGIC_BYTE',
      'empty value: expected Confluent wire format (magic byte 0 + schema id)',
    );
  if (bytes.length < HEADER_BYTES)
    throw recordError(
      'DECODE_MAGIC_BYTE',
      `value is ${bytes.length} bytes: too short for the 5-byte wire header`,
    );
  const magic = bytes.readUInt8(0);
  if (magic !== MAGIC_BYTE)
    throw recordError(
      'DECODE_MAGIC_BYTE',
      `magic byte is ${magic}, expected ${MAGIC_BYTE}: not Confluent wire format`,
    );
  return { schemaId: bytes.readUInt32BE(1), body: bytes.subarray(HEADER_BYTES) };
}
