// Pure parsers for request values the JSON schemas cannot check alone: times given as ISO dates or ms, time
// ranges, feature lists. Each failure is an API_BAD_REQUEST naming the parameter.
import { TagstreamError } from '../errors.ts';
import type { FeatureRef } from '../features/keys.ts';

export function badRequest(message: string, details: Record<string, unknown> = {}): TagstreamError {
  return new TagstreamError('API_BAD_REQUEST', message, { details });
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Date.parse rolls 2026-02-30 over to March; a day that is not in the calendar is an error instead. */
function realDay(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/**
 * A time as ms since epoch: digits are ms, anything else must be an ISO 8601 date or date-time (a date alone is
 * 00:00 UTC; a date-time without offset is read as UTC, not as the server's local time).
 */
export function parseTime(name: string, text: string): number {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) {
    const ms = Number(t);
    if (Number.isSafeInteger(ms)) return ms;
  } else if (ISO.test(t) && realDay(t)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(t) && t.includes('T');
    const ms = Date.parse(t.includes('T') && !hasZone ? `${t}Z` : t);
    if (!Number.isNaN(ms)) return ms;
  }
  throw badRequest(`${name}: expected an ISO 8601 date or date-time, or ms since epoch; got '${text}'`, {
    parameter: name,
  });
}

export interface TimeRange {
  readonly from?: number;
  readonly to?: number;
}

/** Both bounds optional and inclusive; from after to is a bad request. */
export function parseRange(from: string | undefined, to: string | undefined): TimeRange {
  const range: { from?: number; to?: number } = {};
  if (from !== undefined) range.from = parseTime('from', from);
  if (to !== undefined) range.to = parseTime('to', to);
  if (range.from !== undefined && range.to !== undefined && range.from > range.to)
    throw badRequest(
      `from (${new Date(range.from).toISOString()}) is after to (${new Date(range.to).toISOString()})`,
      { parameter: 'from' },
    );
  return range;
}

const FEATURE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const WINDOW = /^[A-Za-z0-9_-]{1,32}$/;
export const MAX_FEATURES = 100;

/** `name,name@window,...` to feature refs, in order, duplicates dropped. */
export function parseFeatureRefs(text: string): FeatureRef[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0)
    throw badRequest('features: expected a comma-separated list of name or name@window', {
      parameter: 'features',
    });
  const unique = [...new Set(parts)];
  if (unique.length > MAX_FEATURES)
    throw badRequest(`features: at most ${MAX_FEATURES} per request, got ${unique.length}`, {
      parameter: 'features',
    });
  return unique.map((part) => {
    const at = part.indexOf('@');
    const name = at < 0 ? part : part.slice(0, at);
    const window = at < 0 ? undefined : part.slice(at + 1);
    if (!FEATURE_NAME.test(name) || (window !== undefined && !WINDOW.test(window)))
      throw badRequest(
        `features: '${part}' is not a feature name (letters, digits, '_', '.', '-') with an optional @window`,
        { parameter: 'features' },
      );
    return window === undefined ? { name } : { name, window };
  });
}
