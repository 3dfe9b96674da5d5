// The documented defaults for missing features: the seed's values, ours, and the fallback.
import { describe, expect, it } from 'vitest';
import {
  FALLBACK_DEFAULT,
  FEATURE_DEFAULTS,
  defaultValue,
  defaultsMarkdown,
} from '../../src/store/defaults.ts';

describe('defaultValue', () => {
  it("keeps the seed's _get_default_value", () => {
    expect(defaultValue('temperature_f')).toBe(70);
    expect(defaultValue('humidity_pct')).toBe(50);
    expect(defaultValue('usage_frequency_7d')).toBe(0.5);
    expect(defaultValue('quality_degradation_rate')).toBe(0);
    expect(defaultValue('consumer_confidence')).toBe(100);
    expect(defaultValue('is_wedding_season')).toBe(0);
    expect(defaultValue('is_holiday_season')).toBe(0);
  });

  it('adds economic and quality defaults', () => {
    expect(defaultValue('unemployment_rate')).toBe(4);
    expect(defaultValue('interest_rate')).toBe(4.5);
    expect(defaultValue('last_quality_grade')).toBe(5);
    expect(defaultValue('quality_grade')).toBe(5);
  });

  it('falls back to 0 for anything else, including names on Object.prototype', () => {
    expect(FALLBACK_DEFAULT).toBe(0);
    expect(defaultValue('rental_quantity')).toBe(0);
    expect(defaultValue('toString')).toBe(0);
    expect(defaultValue('__proto__')).toBe(0);
  });

  it('every default is a finite number with a reason', () => {
    for (const [name, d] of Object.entries(FEATURE_DEFAULTS)) {
      expect(Number.isFinite(d.value), name).toBe(true);
      expect(d.reason.length, name).toBeGreaterThan(0);
    }
  });
});

describe('defaultsMarkdown', () => {
  it('has one row per default plus the fallback', () => {
    const lines = defaultsMarkdown().split('\n');
    expect(lines[0]).toBe('| feature | default | why |');
    expect(lines).toHaveLength(2 + Object.keys(FEATURE_DEFAULTS).length + 1);
    expect(lines).toContain('| `temperature_f` | 70 | mild day: neither heat nor cold moves demand |');
    expect(lines.at(-1)).toMatch(/^\| anything else \| 0 \|/);
  });
});
