// The registry's pure parts: version names, sha256 checks and the models.versions record built from a row.
import { describe, expect, it } from 'vitest';
import {
  sha256Hex,
  toModelVersion,
  verifySha256,
  versionName,
  type ModelSummary,
} from '../../../src/ml/registry/registry.ts';
import { thrownBy } from '../../helpers/errors.ts';

const bytes = new TextEncoder().encode('not really onnx');
const SHA = sha256Hex(bytes);

describe('sha256Hex', () => {
  it('is the lower-case hex SHA-256 of the bytes', () => {
    // printf 'abc' | sha256sum
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(SHA).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes only the view, not the whole underlying buffer', () => {
    const big = new Uint8Array(64).fill(7);
    big.set(bytes, 10);
    expect(sha256Hex(big.subarray(10, 10 + bytes.length))).toBe(SHA);
  });
});

describe('versionName', () => {
  it('is <service>-<UTC yyyymmddHHMMss>-<sha8>', () => {
    const t = Date.UTC(2026, 5, 15, 7, 8, 9, 999);
    expect(versionName('demand', t, SHA)).toBe(`demand-20260615070809-${SHA.slice(0, 8)}`);
  });

  it('uses UTC, zero-pads every field and sorts by time', () => {
    const a = versionName('quality', Date.UTC(2026, 0, 1, 0, 0, 0), SHA);
    const b = versionName('quality', Date.UTC(2026, 0, 1, 0, 0, 1), SHA);
    const c = versionName('quality', Date.UTC(2026, 9, 10, 23, 59, 59), SHA);
    expect(a).toBe(`quality-20260101000000-${SHA.slice(0, 8)}`);
    expect([c, a, b].sort()).toEqual([a, b, c]);
  });

  it('rejects a sha256 that is not 64 lower-case hex digits', () => {
    expect(thrownBy(() => versionName('demand', 0, 'abc')).code).toBe('INTERNAL');
    expect(thrownBy(() => versionName('demand', 0, SHA.toUpperCase())).code).toBe('INTERNAL');
  });
});

describe('verifySha256', () => {
  it('accepts the bytes with their hash (either case)', () => {
    expect(() => verifySha256(bytes, SHA, 'm')).not.toThrow();
    expect(() => verifySha256(bytes, SHA.toUpperCase(), 'm')).not.toThrow();
  });

  it('throws MODEL_CHECKSUM_MISMATCH for changed bytes, naming both hashes', () => {
    const changed = Uint8Array.from(bytes);
    changed[0] = changed[0]! ^ 1;
    const e = thrownBy(() => verifySha256(changed, SHA, 'demand model v1'));
    expect(e.code).toBe('MODEL_CHECKSUM_MISMATCH');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('demand model v1');
    expect(e.message).toContain(SHA);
    expect(e.details).toEqual({ expected: SHA, actual: sha256Hex(changed) });
  });
});

describe('toModelVersion', () => {
  const summary: ModelSummary = {
    id: 1,
    service: 'demand',
    version: `demand-20260615070809-${SHA.slice(0, 8)}`,
    algorithm: 'gradient_boosting',
    status: 'production',
    sha256: SHA,
    featureNames: ['a', 'b'],
    metrics: { mae: 1.5, baseline: { mae: 2 } },
    validationScore: 0.8,
    notes: null,
    createdAt: 1_000,
    promotedAt: 2_000,
    onnxBytes: 10,
  };

  it('carries the row fields in the Avro record shape, metrics as JSON text', () => {
    expect(toModelVersion(summary)).toEqual({
      service: 'demand',
      version: summary.version,
      algorithm: 'gradient_boosting',
      status: 'production',
      sha256: SHA,
      feature_names: ['a', 'b'],
      metrics_json: '{"mae":1.5,"baseline":{"mae":2}}',
      promoted_at: 2_000,
    });
  });

  it('stamps a never-promoted row with its creation time', () => {
    expect(toModelVersion({ ...summary, status: 'candidate', promotedAt: null }).promoted_at).toBe(1_000);
  });
});
