// The alerts CLI's pure parts: one readable line per alert, the severity and rule filters, argument parsing and
// the shape check of decoded values.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { asAlert, formatAlert, matches, parseRules, parseSeverity } from '../../src/cli/alerts.ts';
import type { Alert } from '../../src/schemas/types.ts';

const alert = (over: Partial<Alert> = {}): Alert => ({
  alert_id: 'a-1',
  rule: 'maintenance',
  severity: 'critical',
  entity_id: 'TAG-0042',
  service: 'maintenance',
  message: 'repair likely before the next rental',
  value: 0.91234,
  threshold: 0.8,
  raised_at: Date.UTC(2026, 5, 4, 12, 0, 1, 250),
  event_time: Date.UTC(2026, 5, 4, 11, 59, 0),
  ...over,
});

describe('formatAlert', () => {
  it('prints time, severity, rule, entity and service, message, value and threshold on one line', () => {
    expect(formatAlert(alert())).toBe(
      '2026-06-04 12:00:01Z  CRITICAL  maintenance  TAG-0042 [maintenance]  repair likely before the next rental' +
        '  (value 0.9123, threshold 0.8)',
    );
  });

  it('leaves the service out for a pipeline-health rule and pads the severity', () => {
    expect(
      formatAlert(alert({ service: null, severity: 'info', rule: 'lag', value: 12000, threshold: 5000 })),
    ).toBe(
      '2026-06-04 12:00:01Z  INFO      lag  TAG-0042  repair likely before the next rental  (value 12000, threshold 5000)',
    );
  });
});

describe('matches', () => {
  it('keeps a severity and those above it', () => {
    const f = { minSeverity: 'warning' as const };
    expect(matches(alert({ severity: 'info' }), f)).toBe(false);
    expect(matches(alert({ severity: 'warning' }), f)).toBe(true);
    expect(matches(alert({ severity: 'critical' }), f)).toBe(true);
  });

  it('shows a severity it does not know rather than hide it', () => {
    expect(matches(alert({ severity: 'page-everyone' }), { minSeverity: 'critical' })).toBe(true);
  });

  it('keeps only the rules named', () => {
    const f = { rules: new Set(['drift', 'restock']) };
    expect(matches(alert({ rule: 'drift' }), f)).toBe(true);
    expect(matches(alert({ rule: 'maintenance' }), f)).toBe(false);
  });

  it('keeps everything without a filter', () => {
    expect(matches(alert({ severity: 'info' }), {})).toBe(true);
  });
});

describe('arguments', () => {
  it('parses severities case-insensitively and rejects others', () => {
    expect(parseSeverity('Warning')).toBe('warning');
    expect(() => parseSeverity('fatal')).toThrow(InvalidArgumentError);
  });

  it('collects rules from comma lists and repeats', () => {
    expect(parseRules('drift, restock', ['maintenance'])).toEqual(['maintenance', 'drift', 'restock']);
    expect(() => parseRules(' , ')).toThrow(InvalidArgumentError);
  });
});

describe('asAlert', () => {
  it('accepts a decoded alert and says what is wrong with anything else', () => {
    expect(asAlert(alert())).toEqual(alert());
    expect(asAlert(null)).toBe('not a record');
    expect(asAlert({ ...alert(), value: 'high' })).toBe('field value is not a number');
    expect(asAlert({ ...alert(), service: 3 })).toBe('field service is not a string or null');
  });
});
