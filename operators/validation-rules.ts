// Semantic rules shared by the validate operators: each returns nothing or throws a coded record error.
import { recordError } from '../src/errors.ts';

export interface ValidationRules {
  /** Event time may be at most this far ahead of the clock. */
  readonly futureMarginMs: number;
  /** Event time may be at most this many days behind the clock. */
  readonly maxAgeDays: number;
  /** Known store ids; empty accepts any. */
  readonly storeIds: readonly string[];
  /** Allowed |total - sum(items)|. */
  readonly totalTolerance: number;
}

const DAY_MS = 86_400_000;

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw recordError('DECODE_SCHEMA_MISMATCH', 'value is not a record');
  return value as Record<string, unknown>;
}

export function requireString(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '')
    throw recordError('MISSING_FIELD', `required field ${field} is missing or empty`, { field });
  return v;
}

export function requireNumber(obj: Record<string, unknown>, field: string): number {
  const v = obj[field];
  if (typeof v !== 'number')
    throw recordError('MISSING_FIELD', `required numeric field ${field} is missing`, { field });
  if (!Number.isFinite(v))
    throw recordError('NOT_FINITE', `${field} is ${v}, not a finite number`, { field });
  return v;
}

export function optionalString(obj: Record<string, unknown>, field: string): string | null {
  const v = obj[field];
  return typeof v === 'string' ? v : null;
}

export function checkEventTime(field: string, t: number, now: number, rules: ValidationRules): void {
  if (t > now + rules.futureMarginMs)
    throw recordError(
      'EVENT_TIME_FUTURE',
      `${field} ${new Date(t).toISOString()} is more than ${rules.futureMarginMs} ms ahead of now`,
      { field },
    );
  if (t < now - rules.maxAgeDays * DAY_MS)
    throw recordError(
      'EVENT_TIME_TOO_OLD',
      `${field} ${new Date(t).toISOString()} is more than ${rules.maxAgeDays} days old`,
      { field },
    );
}

export function checkStore(storeId: string, rules: ValidationRules): void {
  if (rules.storeIds.length > 0 && !rules.storeIds.includes(storeId))
    throw recordError(
      'UNKNOWN_STORE',
      `store_id ${storeId} is not a known store (${rules.storeIds.join(', ')})`,
      { field: 'store_id' },
    );
}
