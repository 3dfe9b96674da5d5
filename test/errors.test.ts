// The error module: codes are unique, record codes are a subset, and foreign errors are wrapped, ours kept.
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  RECORD_ERROR_CODES,
  TagstreamError,
  isTagstreamError,
  recordError,
  toTagstreamError,
} from '../src/errors.ts';

describe('error codes', () => {
  it('are unique', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('record codes are a subset of all codes, and dependency codes are not record codes', () => {
    for (const code of RECORD_ERROR_CODES) expect(ERROR_CODES).toContain(code);
    for (const code of [
      'KAFKA_UNAVAILABLE',
      'REGISTRY_UNAVAILABLE',
      'MYSQL_ERROR',
      'CONFIG_INVALID',
      'INTERNAL',
    ] as const)
      expect(RECORD_ERROR_CODES.has(code)).toBe(false);
  });

  it('every DECODE_ code is a record code', () => {
    const decode = ERROR_CODES.filter((c) => c.startsWith('DECODE_'));
    expect(decode).toEqual([
      'DECODE_MAGIC_BYTE',
      'DECODE_UNKNOWN_SCHEMA',
      'DECODE_MALFORMED',
      'DECODE_SCHEMA_MISMATCH',
      'DECODE_WRONG_SUBJECT',
    ]);
    for (const c of decode) expect(RECORD_ERROR_CODES.has(c)).toBe(true);
  });
});

describe('TagstreamError', () => {
  it('carries code, message, cause, retryable and details', () => {
    const cause = new Error('socket hang up');
    const e = new TagstreamError('KAFKA_UNAVAILABLE', 'no broker', {
      cause,
      retryable: true,
      details: { topic: 't' },
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TagstreamError');
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.message).toBe('no broker');
    expect(e.cause).toBe(cause);
    expect(e.retryable).toBe(true);
    expect(e.details).toEqual({ topic: 't' });
    expect(e.isRecordError).toBe(false);
  });

  it('defaults to not retryable, no details and no cause', () => {
    const e = new TagstreamError('INTERNAL', 'x');
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({});
    expect('cause' in e).toBe(false);
  });

  it('recordError builds a non-retryable record error with details', () => {
    const e = recordError('UNKNOWN_STORE', 'store S9', { field: 'store_id' });
    expect(e.code).toBe('UNKNOWN_STORE');
    expect(e.isRecordError).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({ field: 'store_id' });
    expect(recordError('EMPTY_ITEMS', 'none').details).toEqual({});
  });

  it('isTagstreamError tells ours from others', () => {
    expect(isTagstreamError(new TagstreamError('INTERNAL', 'x'))).toBe(true);
    expect(isTagstreamError(new Error('x'))).toBe(false);
    expect(isTagstreamError({ code: 'INTERNAL' })).toBe(false);
  });
});

describe('toTagstreamError', () => {
  it('returns our errors unchanged', () => {
    const ours = new TagstreamError('MYSQL_ERROR', 'deadlock', { retryable: true });
    expect(toTagstreamError(ours)).toBe(ours);
    expect(toTagstreamError(ours, 'KAFKA_ERROR')).toBe(ours);
  });

  it('wraps an Error as INTERNAL keeping its message and cause', () => {
    const cause = new RangeError('out of range');
    const e = toTagstreamError(cause);
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toBe('out of range');
    expect(e.cause).toBe(cause);
    expect(e.retryable).toBe(false);
  });

  it('wraps non-errors with the fallback code', () => {
    const e = toTagstreamError('plain string', 'REDIS_ERROR');
    expect(e.code).toBe('REDIS_ERROR');
    expect(e.message).toBe('plain string');
    expect(e.cause).toBe('plain string');
    expect(toTagstreamError(undefined).message).toBe('undefined');
  });
});
