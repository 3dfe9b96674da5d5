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

/**
 * Longest value (UTF-16 code units, never fewer than characters) of each string field, and most items in a
 * transaction: whatever passes validation fits every column and key downstream (schemas/sql: id_transactions,
 * id_item_master, ml_feature_store.target_entity, checked by test/operators/validation-limits.test.ts), and one
 * transaction fans out to a bounded number of class rows and events.
 */
export const FIELD_LIMITS = {
  tag_id: 64,
  rental_class_num: 32,
  reader_id: 64,
  store_id: 32,
  scan_type: 16,
  notes: 2_000,
  transaction_id: 128,
  contract_no: 64,
  customer_id: 64,
  items: 500,
} as const;

export type LimitedField = keyof typeof FIELD_LIMITS;

function checkLength(field: string, length: number, limit: number, unit: string): void {
  if (length > limit)
    throw recordError('FIELD_TOO_LONG', `${field} has ${length} ${unit}, over its limit of ${limit}`, {
      field,
    });
}

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw recordError('DECODE_SCHEMA_MISMATCH', 'value is not a record');
  return value as Record<string, unknown>;
}

/** A non-empty string within its FIELD_LIMITS length. */
export function requireString(
  obj: Record<string, unknown>,
  field: LimitedField,
  label: string = field,
): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '')
    throw recordError('MISSING_FIELD', `required field ${label} is missing or empty`, { field: label });
  checkLength(label, v.length, FIELD_LIMITS[field], 'characters');
  return v;
}

/** An array within its FIELD_LIMITS length. */
export function requireArray(obj: Record<string, unknown>, field: LimitedField): unknown[] {
  const v = obj[field];
  if (!Array.isArray(v)) throw recordError('MISSING_FIELD', `required field ${field} is missing`, { field });
  checkLength(field, v.length, FIELD_LIMITS[field], 'entries');
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

/** A string within its FIELD_LIMITS length, or null. */
export function optionalString(obj: Record<string, unknown>, field: LimitedField): string | null {
  const v = obj[field];
  if (typeof v !== 'string') return null;
  checkLength(field, v.length, FIELD_LIMITS[field], 'characters');
  return v;
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
