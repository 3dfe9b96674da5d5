// The derived services as pure functions of forecasts, stock and bookings: pricing (a bounded multiplier with its
// reasons), restock (shortfall per class and store, with a transfer from the store with the largest surplus or a
// purchase), and pack (units to pack per class for booked events, with spares for expected damage).

export interface PricingPolicy {
  /** Price response to pressure = forecast / available: multiplier = 1 + elasticity × (pressure − 1). */
  readonly elasticity: number;
  readonly min: number;
  readonly max: number;
}

export interface PricingResult {
  readonly multiplier: number;
  readonly pressure: number;
  readonly reasons: readonly string[];
}

export function priceMultiplier(forecast: number, available: number, policy: PricingPolicy): PricingResult {
  const pressure = available > 0 ? forecast / available : forecast > 0 ? Number.POSITIVE_INFINITY : 1;
  const raw = Number.isFinite(pressure) ? 1 + policy.elasticity * (pressure - 1) : policy.max;
  const multiplier = Math.min(policy.max, Math.max(policy.min, raw));
  const reasons = [
    `forecast ${forecast.toFixed(1)} units against ${available} available (pressure ${Number.isFinite(pressure) ? pressure.toFixed(2) : 'unbounded'})`,
  ];
  if (multiplier === policy.max && raw >= policy.max) reasons.push(`capped at ${policy.max}`);
  if (multiplier === policy.min && raw <= policy.min) reasons.push(`floored at ${policy.min}`);
  return { multiplier, pressure, reasons };
}

export interface StoreStock {
  readonly storeId: string;
  /** Forecast demand for the horizon. */
  readonly forecast: number;
  /** Available units, items in repair excluded. */
  readonly available: number;
}

export type RestockAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'transfer'; readonly fromStore: string; readonly units: number }
  | { readonly kind: 'purchase'; readonly units: number }
  | {
      readonly kind: 'transfer+purchase';
      readonly fromStore: string;
      readonly transfer: number;
      readonly purchase: number;
    };

export interface RestockResult {
  readonly storeId: string;
  readonly shortfall: number;
  readonly action: RestockAction;
}

/**
 * For one rental class across stores: each store's shortfall (forecast − available, rounded up, at least 0) and
 * how to cover it — first from the store with the largest surplus, then by purchase. Surpluses are used once.
 */
export function restockPlan(stores: readonly StoreStock[]): RestockResult[] {
  const surplus = new Map(stores.map((s) => [s.storeId, Math.max(0, Math.floor(s.available - s.forecast))]));
  const short = stores
    .map((s) => ({ storeId: s.storeId, shortfall: Math.max(0, Math.ceil(s.forecast - s.available)) }))
    .sort((a, b) => b.shortfall - a.shortfall || a.storeId.localeCompare(b.storeId));
  const plan = new Map<string, RestockResult>();
  for (const { storeId, shortfall } of short) {
    if (shortfall === 0) {
      plan.set(storeId, { storeId, shortfall, action: { kind: 'none' } });
      continue;
    }
    const donor = [...surplus]
      .filter(([id, n]) => id !== storeId && n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    const transfer = donor ? Math.min(donor[1], shortfall) : 0;
    if (donor) surplus.set(donor[0], donor[1] - transfer);
    const purchase = shortfall - transfer;
    const action: RestockAction =
      transfer === 0
        ? { kind: 'purchase', units: purchase }
        : purchase === 0
          ? { kind: 'transfer', fromStore: (donor as [string, number])[0], units: transfer }
          : { kind: 'transfer+purchase', fromStore: (donor as [string, number])[0], transfer, purchase };
    plan.set(storeId, { storeId, shortfall, action });
  }
  return stores.map((s) => plan.get(s.storeId) as RestockResult);
}

export interface Booking {
  readonly rentalClass: string;
  readonly quantity: number;
  /** Event day, epoch days. */
  readonly eventDay: number;
}

export interface PackLine {
  readonly rentalClass: string;
  readonly booked: number;
  readonly spares: number;
  readonly units: number;
}

/**
 * Units to pack per class for bookings with event days in [today, today + days): the booked units plus spares
 * covering expected damage — ceil(booked × p(damage)) with the class's predicted damage probability.
 */
export function packList(
  bookings: readonly Booking[],
  today: number,
  days: number,
  damageProbability: (rentalClass: string) => number,
): PackLine[] {
  const booked = new Map<string, number>();
  for (const b of bookings)
    if (b.eventDay >= today && b.eventDay < today + days)
      booked.set(b.rentalClass, (booked.get(b.rentalClass) ?? 0) + b.quantity);
  return [...booked]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([rentalClass, n]) => {
      const p = Math.min(1, Math.max(0, damageProbability(rentalClass)));
      const spares = Math.ceil(n * p - 1e-9);
      return { rentalClass, booked: n, spares, units: n + spares };
    });
}
