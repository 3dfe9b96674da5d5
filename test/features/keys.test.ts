// Entity keys and column names: the names every layer uses for a class, a booking and a feature column.
import { describe, expect, it } from 'vitest';
import { bookingKey, classKey, columnName, storeOfClassKey } from '../../src/features/keys.ts';
import { zoneOf } from '../../src/features/zones.ts';

describe('keys', () => {
  it('names a class in a store, and finds the store again', () => {
    expect(classKey('S1', 'TENT-20X20')).toBe('S1|TENT-20X20');
    expect(storeOfClassKey(classKey('S1', 'TENT-20X20'))).toBe('S1');
    expect(storeOfClassKey('S1')).toBe('S1');
    expect(bookingKey('S2', 'C-17')).toBe('S2|C-17');
  });

  it('names a column by feature and window', () => {
    expect(columnName({ name: 'rentals', window: '7d' })).toBe('rentals@7d');
    expect(columnName({ name: 'available_stock' })).toBe('available_stock');
    expect(columnName({ name: 'turnover_ltd', window: '' })).toBe('turnover_ltd');
  });
});

describe('zones', () => {
  it('gives a store its own zone, or the default', () => {
    const zone = zoneOf({ stores: { timeZones: { S1: 'America/New_York' }, defaultTimeZone: 'UTC' } });
    expect(zone('S1')).toBe('America/New_York');
    expect(zone('S9')).toBe('UTC');
  });
});
