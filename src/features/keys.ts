// Entity keys and column names of the feature store: how a class, a booking or the global entity is named, and how
// a feature read (name, window) is named as a column. Pure; every layer above uses these instead of formatting keys.

/** One feature read: by name, optionally one window ('' or omitted: per-event features). */
export interface FeatureRef {
  readonly name: string;
  readonly window?: string;
}

/** `name`, or `name@window` for a windowed feature. */
export function columnName(ref: FeatureRef): string {
  return ref.window ? `${ref.name}@${ref.window}` : ref.name;
}

/** The id of a rental class in a store, the key of per-class state and features. */
export const classKey = (storeId: string, rentalClass: string): string => `${storeId}|${rentalClass}`;

/** The store of a classKey (the part before the first `|`). */
export const storeOfClassKey = (key: string): string => key.split('|')[0] ?? '';

/** The entity of a booking (a pack list): the contract in its store. */
export const bookingKey = (storeId: string, contractNo: string): string => `${storeId}|${contractNo}`;

/** The entity of features that belong to no store or item (the economic collector's). */
export const GLOBAL_ENTITY = 'global';
