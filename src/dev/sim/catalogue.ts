// The simulated business's fixed facts: rental classes with their demand and wear parameters, stores with their
// time zones and climates, and the seasonal and weekday shapes of demand. Everything random lives in model.ts.

/** Which seasonal shape a class follows (see SEASON_PROFILES). */
export type SeasonProfile = 'wedding' | 'mixed' | 'holiday' | 'summer' | 'winter';

/** Tags that calendar events (holidays, festivals) act on. */
export type ClassTag = 'outdoor' | 'party' | 'dining' | 'wedding' | 'kids' | 'bbq' | 'lighting';

export interface RentalClass {
  /** rental_class_num on scans and transactions. */
  readonly code: string;
  readonly name: string;
  readonly category: string;
  /** Used outdoors: rain and outdoor events move its demand. */
  readonly outdoor: boolean;
  /**
   * Demand response to precipitation p (inches): negative suppresses (factor exp(rain * p), at least 0.3);
   * positive raises (factor 1 + rain * min(p, 1)), e.g. canopies people book to keep dry.
   */
  readonly rain: number;
  /** Demand that rises when it is hot or cold on the event day. */
  readonly temperature: 'heat' | 'cold' | null;
  readonly season: SeasonProfile;
  readonly tags: readonly ClassTag[];
  /** Mean units rented per store on an average day (season, weekday and the rest multiply it). */
  readonly base: number;
  /** List price per unit and rental, USD. */
  readonly price: number;
  /** Price elasticity: demand multiplies by priceMultiplier^(-elasticity). */
  readonly elasticity: number;
  /** Typical units of the class on one contract line. */
  readonly lineQty: number;
  /** Rentals an item lasts before it is retired and replaced. */
  readonly lifetimeUses: number;
  /** Added to the damage logit: 0 for sturdy steel, above 1 for glass and inflatables. */
  readonly fragility: number;
  /** What a damage scan notes. */
  readonly damage: readonly string[];
}

type ClassSpec = Omit<RentalClass, 'outdoor' | 'temperature' | 'tags' | 'rain'> &
  Partial<Pick<RentalClass, 'temperature' | 'tags' | 'rain'>>;

function cls(spec: ClassSpec): RentalClass {
  const rain = spec.rain ?? 0;
  const tags = spec.tags ?? [];
  return { ...spec, rain, tags, temperature: spec.temperature ?? null, outdoor: tags.includes('outdoor') };
}

const FABRIC = ['torn fabric', 'stain', 'broken seam'];
const FRAME = ['bent leg', 'cracked frame', 'loose joint'];
const TENT = ['torn canvas', 'bent pole', 'broken stake loop'];
const ELECTRIC = ['broken bulb', 'frayed cord', 'dead driver'];
const SURFACE = ['scratched surface', 'chipped edge', 'warped panel'];

/** About 40 rental classes of a party and event rental business (one line each, so the table stays readable). */
// prettier-ignore
export const CLASSES: readonly RentalClass[] = [
  // Tents and canopies: outdoor, booked when rain is likely.
  cls({ code: 'TENT-10X10', name: '10x10 pop-up canopy', category: 'tents', rain: 0.3, season: 'summer', tags: ['outdoor', 'party'], base: 1.6, price: 85, elasticity: 0.9, lineQty: 1.5, lifetimeUses: 180, fragility: 0.7, damage: TENT }),
  cls({ code: 'TENT-20X20', name: '20x20 frame tent', category: 'tents', rain: 0.3, season: 'wedding', tags: ['outdoor', 'wedding'], base: 0.9, price: 320, elasticity: 0.7, lineQty: 1, lifetimeUses: 220, fragility: 0.6, damage: TENT }),
  cls({ code: 'TENT-20X40', name: '20x40 frame tent', category: 'tents', rain: 0.3, season: 'wedding', tags: ['outdoor', 'wedding'], base: 0.5, price: 640, elasticity: 0.6, lineQty: 1, lifetimeUses: 220, fragility: 0.6, damage: TENT }),
  cls({ code: 'TENT-40X60', name: '40x60 pole tent', category: 'tents', rain: 0.3, season: 'wedding', tags: ['outdoor', 'wedding'], base: 0.3, price: 1450, elasticity: 0.5, lineQty: 1, lifetimeUses: 200, fragility: 0.5, damage: TENT }),
  cls({ code: 'TENT-SIDEWALL', name: '20ft tent sidewall', category: 'tents', rain: 0.5, season: 'wedding', tags: ['outdoor', 'wedding'], base: 1.4, price: 45, elasticity: 0.6, lineQty: 3, lifetimeUses: 160, fragility: 0.8, damage: FABRIC }),
  // Tables.
  cls({ code: 'TABLE-6FT', name: '6ft banquet table', category: 'tables', season: 'mixed', tags: ['party', 'dining'], base: 9, price: 10, elasticity: 1.1, lineQty: 8, lifetimeUses: 420, fragility: 0.1, damage: FRAME }),
  cls({ code: 'TABLE-8FT', name: '8ft banquet table', category: 'tables', season: 'mixed', tags: ['party', 'dining'], base: 5, price: 12, elasticity: 1.1, lineQty: 6, lifetimeUses: 420, fragility: 0.1, damage: FRAME }),
  cls({ code: 'TABLE-60RND', name: '60in round table', category: 'tables', season: 'wedding', tags: ['wedding', 'dining'], base: 8, price: 12, elasticity: 1.0, lineQty: 10, lifetimeUses: 400, fragility: 0.15, damage: FRAME }),
  cls({ code: 'TABLE-72RND', name: '72in round table', category: 'tables', season: 'wedding', tags: ['wedding', 'dining'], base: 4, price: 14, elasticity: 1.0, lineQty: 8, lifetimeUses: 400, fragility: 0.15, damage: FRAME }),
  cls({ code: 'TABLE-COCKTAIL', name: '30in cocktail table', category: 'tables', season: 'holiday', tags: ['party'], base: 4, price: 15, elasticity: 1.2, lineQty: 4, lifetimeUses: 380, fragility: 0.2, damage: FRAME }),
  cls({ code: 'TABLE-KIDS', name: 'kids activity table', category: 'tables', season: 'summer', tags: ['kids', 'party'], base: 1.5, price: 8, elasticity: 1.3, lineQty: 2, lifetimeUses: 300, fragility: 0.3, damage: FRAME }),
  // Chairs.
  cls({ code: 'CHAIR-FOLD-WHT', name: 'white folding chair', category: 'chairs', season: 'mixed', tags: ['party', 'dining'], base: 45, price: 2.25, elasticity: 1.3, lineQty: 40, lifetimeUses: 500, fragility: 0.0, damage: FRAME }),
  cls({ code: 'CHAIR-CHIAVARI-GLD', name: 'gold chiavari chair', category: 'chairs', season: 'wedding', tags: ['wedding', 'dining'], base: 22, price: 7.5, elasticity: 1.0, lineQty: 60, lifetimeUses: 350, fragility: 0.4, damage: FRAME }),
  cls({ code: 'CHAIR-CROSSBACK', name: 'wooden cross-back chair', category: 'chairs', season: 'wedding', tags: ['wedding', 'dining'], base: 10, price: 8.5, elasticity: 0.9, lineQty: 50, lifetimeUses: 350, fragility: 0.3, damage: FRAME }),
  cls({ code: 'CHAIR-GARDEN', name: 'white resin garden chair', category: 'chairs', rain: -2.5, season: 'summer', tags: ['outdoor', 'party'], base: 12, price: 3.5, elasticity: 1.3, lineQty: 30, lifetimeUses: 300, fragility: 0.2, damage: FRAME }),
  cls({ code: 'CHAIR-KIDS', name: 'kids folding chair', category: 'chairs', season: 'summer', tags: ['kids', 'party'], base: 3, price: 1.75, elasticity: 1.4, lineQty: 12, lifetimeUses: 300, fragility: 0.2, damage: FRAME }),
  // Linens: holiday parties as much as weddings; wear out fast.
  cls({ code: 'LINEN-90X132-WHT', name: '90x132 white tablecloth', category: 'linens', season: 'holiday', tags: ['dining', 'party'], base: 14, price: 14, elasticity: 1.1, lineQty: 10, lifetimeUses: 120, fragility: 0.5, damage: FABRIC }),
  cls({ code: 'LINEN-120RND-IVY', name: '120in round ivory tablecloth', category: 'linens', season: 'wedding', tags: ['wedding', 'dining'], base: 10, price: 18, elasticity: 1.0, lineQty: 10, lifetimeUses: 120, fragility: 0.5, damage: FABRIC }),
  cls({ code: 'LINEN-NAPKIN', name: 'cloth napkin', category: 'linens', season: 'holiday', tags: ['dining', 'wedding'], base: 30, price: 0.75, elasticity: 1.2, lineQty: 50, lifetimeUses: 100, fragility: 0.3, damage: FABRIC }),
  cls({ code: 'LINEN-RUNNER', name: 'table runner', category: 'linens', season: 'holiday', tags: ['dining', 'wedding'], base: 8, price: 6, elasticity: 1.1, lineQty: 8, lifetimeUses: 110, fragility: 0.4, damage: FABRIC }),
  cls({ code: 'LINEN-SPANDEX', name: 'spandex cocktail table cover', category: 'linens', season: 'holiday', tags: ['party'], base: 4, price: 12, elasticity: 1.2, lineQty: 4, lifetimeUses: 130, fragility: 0.4, damage: FABRIC }),
  // Lighting.
  cls({ code: 'LIGHT-STRING-48', name: '48ft bistro string lights', category: 'lighting', rain: -2.5, season: 'wedding', tags: ['outdoor', 'lighting', 'wedding'], base: 4, price: 35, elasticity: 0.9, lineQty: 3, lifetimeUses: 150, fragility: 0.8, damage: ELECTRIC }),
  cls({ code: 'LIGHT-UPLIGHT', name: 'LED uplight', category: 'lighting', season: 'holiday', tags: ['lighting', 'party'], base: 8, price: 25, elasticity: 1.0, lineQty: 8, lifetimeUses: 250, fragility: 0.5, damage: ELECTRIC }),
  cls({ code: 'LIGHT-CHANDELIER', name: 'crystal chandelier', category: 'lighting', season: 'wedding', tags: ['lighting', 'wedding'], base: 0.6, price: 150, elasticity: 0.6, lineQty: 1, lifetimeUses: 150, fragility: 1.3, damage: ['cracked crystal', 'broken arm', 'frayed cord'] }),
  cls({ code: 'LIGHT-LANTERN', name: 'paper lantern set', category: 'lighting', rain: -2.5, season: 'summer', tags: ['outdoor', 'lighting', 'party'], base: 3, price: 9, elasticity: 1.2, lineQty: 4, lifetimeUses: 60, fragility: 1.2, damage: ['torn paper', 'bent wire'] }),
  // Dance floors and staging.
  cls({ code: 'FLOOR-DANCE-3X3', name: '3x3 dance floor panel', category: 'staging', season: 'wedding', tags: ['wedding', 'party'], base: 10, price: 14, elasticity: 0.9, lineQty: 16, lifetimeUses: 300, fragility: 0.2, damage: SURFACE }),
  cls({ code: 'STAGE-4X8', name: '4x8 stage deck', category: 'staging', season: 'mixed', tags: ['party'], base: 3, price: 55, elasticity: 0.8, lineQty: 4, lifetimeUses: 300, fragility: 0.2, damage: SURFACE }),
  // Catering.
  cls({ code: 'CHAFER-8QT', name: '8qt chafing dish', category: 'catering', season: 'holiday', tags: ['dining', 'party'], base: 5, price: 18, elasticity: 1.1, lineQty: 4, lifetimeUses: 260, fragility: 0.3, damage: ['dented pan', 'broken hinge'] }),
  cls({ code: 'PLATE-CHARGER-GLD', name: 'gold charger plate', category: 'catering', season: 'wedding', tags: ['wedding', 'dining'], base: 20, price: 1.5, elasticity: 1.1, lineQty: 60, lifetimeUses: 150, fragility: 0.9, damage: ['chipped rim', 'cracked plate'] }),
  cls({ code: 'BAR-PORTABLE', name: '6ft portable bar', category: 'catering', season: 'holiday', tags: ['party'], base: 1, price: 120, elasticity: 0.8, lineQty: 1, lifetimeUses: 250, fragility: 0.4, damage: SURFACE }),
  cls({ code: 'BEV-DISPENSER', name: '3gal beverage dispenser', category: 'catering', season: 'summer', tags: ['party', 'dining'], base: 2.5, price: 16, elasticity: 1.1, lineQty: 2, lifetimeUses: 140, fragility: 1.1, damage: ['cracked jar', 'leaking spigot'] }),
  // Outdoor equipment.
  cls({ code: 'HEATER-PATIO', name: 'propane patio heater', category: 'outdoor', rain: -2.5, temperature: 'cold', season: 'winter', tags: ['outdoor', 'party'], base: 1.5, price: 65, elasticity: 0.9, lineQty: 2, lifetimeUses: 200, fragility: 0.6, damage: ['faulty igniter', 'dented reflector'] }),
  cls({ code: 'FAN-MISTING', name: 'misting fan', category: 'outdoor', rain: -2.5, temperature: 'heat', season: 'summer', tags: ['outdoor', 'party'], base: 0.8, price: 75, elasticity: 0.9, lineQty: 2, lifetimeUses: 180, fragility: 0.7, damage: ['clogged nozzle', 'broken blade'] }),
  cls({ code: 'GRILL-BBQ', name: '6ft BBQ grill', category: 'outdoor', rain: -2.5, season: 'summer', tags: ['outdoor', 'bbq'], base: 0.7, price: 110, elasticity: 0.9, lineQty: 1, lifetimeUses: 200, fragility: 0.4, damage: ['rusted grate', 'broken wheel'] }),
  cls({ code: 'UMBRELLA-MKT', name: '9ft market umbrella', category: 'outdoor', rain: -2.5, season: 'summer', tags: ['outdoor', 'party'], base: 2, price: 25, elasticity: 1.1, lineQty: 3, lifetimeUses: 160, fragility: 0.8, damage: ['torn canopy', 'bent rib'] }),
  cls({ code: 'GAME-CORNHOLE', name: 'cornhole set', category: 'outdoor', rain: -2.5, season: 'summer', tags: ['outdoor', 'kids', 'bbq'], base: 1.2, price: 40, elasticity: 1.2, lineQty: 1, lifetimeUses: 200, fragility: 0.5, damage: ['split board', 'torn bag'] }),
  cls({ code: 'INFLATABLE-BOUNCE', name: '13x13 bounce house', category: 'outdoor', rain: -3, season: 'summer', tags: ['outdoor', 'kids'], base: 0.8, price: 195, elasticity: 0.8, lineQty: 1, lifetimeUses: 150, fragility: 1.2, damage: ['torn seam', 'blower failure'] }),
  // Decor and audio.
  cls({ code: 'ARCH-WEDDING', name: 'wedding arch', category: 'decor', rain: -2.5, season: 'wedding', tags: ['outdoor', 'wedding'], base: 0.7, price: 90, elasticity: 0.7, lineQty: 1, lifetimeUses: 200, fragility: 0.6, damage: FRAME }),
  cls({ code: 'STANCHION-SET', name: 'stanchion and rope set', category: 'decor', season: 'holiday', tags: ['party'], base: 2, price: 12, elasticity: 1.0, lineQty: 4, lifetimeUses: 300, fragility: 0.2, damage: ['dented post', 'frayed rope'] }),
  cls({ code: 'AUDIO-PA', name: 'PA speaker system', category: 'audio', season: 'mixed', tags: ['party'], base: 1.2, price: 140, elasticity: 0.8, lineQty: 1, lifetimeUses: 250, fragility: 0.9, damage: ['blown speaker', 'broken jack'] }),
];

/** Monthly demand multipliers, January first; the model interpolates between mid-month values. */
const WEDDING = [0.55, 0.6, 0.75, 0.95, 1.35, 1.6, 1.5, 1.5, 1.4, 1.05, 0.8, 0.75];
const HOLIDAY = [0.8, 0.8, 0.85, 0.9, 1.0, 1.05, 1.0, 0.95, 0.95, 1.05, 1.4, 1.8];
export const SEASON_PROFILES: Readonly<Record<SeasonProfile, readonly number[]>> = {
  wedding: WEDDING,
  holiday: HOLIDAY,
  mixed: WEDDING.map((w, i) => 0.7 * w + 0.3 * HOLIDAY[i]!),
  summer: [0.45, 0.5, 0.7, 0.95, 1.3, 1.6, 1.75, 1.6, 1.3, 0.95, 0.6, 0.5],
  winter: [1.5, 1.4, 1.2, 0.8, 0.5, 0.3, 0.25, 0.3, 0.6, 1.1, 1.5, 1.7],
};

/** Demand multiplier by weekday of the event, Sunday first; Saturday peaks. Averages 1. */
export const WEEKDAY = [1.0, 0.5, 0.45, 0.55, 0.75, 1.35, 2.4] as const;

export interface Climate {
  /** Mean yearly temperature and the half-range of the seasonal swing, deg F. */
  readonly meanF: number;
  readonly swingF: number;
  /** Chance of a wet day in January and in July (interpolated with the season). */
  readonly wetWinter: number;
  readonly wetSummer: number;
  /** Mean precipitation on a wet day, inches. */
  readonly wetMeanIn: number;
  readonly humidity: number;
}

export interface StoreProfile {
  readonly city: string;
  readonly zone: string;
  readonly climate: Climate;
}

/** Store i (0-based) uses profile i mod 3. */
export const STORE_PROFILES: readonly StoreProfile[] = [
  {
    city: 'New York',
    zone: 'America/New_York',
    climate: { meanF: 55, swingF: 21, wetWinter: 0.32, wetSummer: 0.33, wetMeanIn: 0.4, humidity: 63 },
  },
  {
    city: 'Chicago',
    zone: 'America/Chicago',
    climate: { meanF: 51, swingF: 25, wetWinter: 0.3, wetSummer: 0.35, wetMeanIn: 0.35, humidity: 67 },
  },
  {
    city: 'Los Angeles',
    zone: 'America/Los_Angeles',
    climate: { meanF: 64, swingF: 8, wetWinter: 0.2, wetSummer: 0.02, wetMeanIn: 0.5, humidity: 60 },
  },
];

export interface Store {
  readonly id: string;
  readonly index: number;
  readonly city: string;
  readonly zone: string;
  readonly climate: Climate;
  readonly readers: StoreReaders;
}

export interface StoreReaders {
  readonly docks: readonly [string, string];
  readonly returns: string;
  readonly inspect: string;
  readonly repair: string;
  readonly warehouse: string;
  /** The reader next to each reader: a double read comes from it. */
  readonly neighbour: Readonly<Record<string, string>>;
}

function readers(id: string): StoreReaders {
  const r = (name: string): string => `${id}-${name}`;
  const [a, b, ret, ins, rep, wh] = ['DOCK-A', 'DOCK-B', 'RETURN', 'INSPECT', 'REPAIR', 'WAREHOUSE'].map(
    r,
  ) as [string, string, string, string, string, string];
  return {
    docks: [a, b],
    returns: ret,
    inspect: ins,
    repair: rep,
    warehouse: wh,
    neighbour: { [a]: b, [b]: a, [ret]: b, [ins]: ret, [rep]: ins, [wh]: ret },
  };
}

/** Stores S1..Sn; time zones and climates cycle through New York, Chicago, Los Angeles. */
export function makeStores(n: number): Store[] {
  return Array.from({ length: n }, (_, index) => {
    const id = `S${index + 1}`;
    const p = STORE_PROFILES[index % STORE_PROFILES.length]!;
    return { id, index, city: p.city, zone: p.zone, climate: p.climate, readers: readers(id) };
  });
}
