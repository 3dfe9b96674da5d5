// Store time zones: a store's local day bounds its daily windows, demand labels and pack horizon.

/** The part of the configuration that names store zones (config/schema.ts `stores`). */
export interface StoreZones {
  readonly stores: {
    /** IANA time zone per store id. */
    readonly timeZones: Readonly<Record<string, string>>;
    /** Zone of stores not listed. */
    readonly defaultTimeZone: string;
  };
}

/** The IANA zone of each store: its own, or the default. */
export function zoneOf(config: StoreZones): (storeId: string) => string {
  return (storeId) => config.stores.timeZones[storeId] ?? config.stores.defaultTimeZone;
}
