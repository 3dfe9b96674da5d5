// A shift injected into the simulation from one day on (`npm run simulate -- --shift-from 2026-06-01 --shift
// price:+40%`): what makes the data drift away from what a model was trained on, for testing drift detection. Days
// before `from` are exactly those of the same run without the shift (the random streams draw the same numbers).
import { DAY_MS } from './time.ts';

/**
 * What shifts:
 * - `price`: every class's price (and so its demand, through its elasticity), relative (`+40%`);
 * - `demand`: every class's demand rate, relative (`+50%`);
 * - `temperature`: every store's daily temperature, in °F (`+15`) — the weather files change too;
 * - `precipitation`: every store's daily precipitation, in inches (`+0.5`: rain every day);
 * - `grade`: the quality grade every reader reports, in grades (`-1`, kept within 1..5): a recalibrated reader or
 *   a stricter inspection standard; the items themselves wear as before.
 * price and demand act on event days from `from` on, so bookings made before it for those days change too.
 */
export const SHIFT_KINDS = ['price', 'demand', 'temperature', 'precipitation', 'grade'] as const;
export type ShiftKind = (typeof SHIFT_KINDS)[number];

const RELATIVE: readonly ShiftKind[] = ['price', 'demand'];

export interface ShiftChange {
  readonly kind: ShiftKind;
  /** price, demand: the factor (1.4 for +40%); temperature, precipitation, grade: the amount added. */
  readonly amount: number;
}

export interface Shift {
  /** First shifted day, ms at UTC midnight. */
  readonly from: number;
  readonly changes: readonly ShiftChange[];
}

/** Parses `kind:+N%` (price, demand) or `kind:±N` (temperature, precipitation, grade); throws RangeError. */
export function parseShiftChange(text: string): ShiftChange {
  const m = /^\s*([a-z]+)\s*:\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  const kind = m?.[1] as ShiftKind | undefined;
  if (!m || kind === undefined || !SHIFT_KINDS.includes(kind))
    throw new RangeError(
      `expected ${SHIFT_KINDS.join('|')}:<change>, e.g. price:+40% or temperature:+15, got '${text}'`,
    );
  const n = Number(m[2]);
  const percent = m[3] === '%';
  if (RELATIVE.includes(kind)) {
    if (!percent) throw new RangeError(`${kind} shifts by a percentage, e.g. ${kind}:+40%`);
    if (n <= -100) throw new RangeError(`${kind}:${m[2]}%: a change of -100% or less leaves nothing`);
    return { kind, amount: 1 + n / 100 };
  }
  if (percent) throw new RangeError(`${kind} shifts by an amount, e.g. ${kind}:+15, not a percentage`);
  if (kind === 'grade' && !Number.isInteger(n))
    throw new RangeError('grade shifts by whole grades, e.g. grade:-1');
  return { kind, amount: n };
}

/** The shift's text form, as the manifest records it (`price:+40%`). */
export function formatShiftChange(c: ShiftChange): string {
  const sign = (x: number): string => (x >= 0 ? `+${x}` : `${x}`);
  return RELATIVE.includes(c.kind)
    ? `${c.kind}:${sign(Math.round((c.amount - 1) * 1e6) / 1e4)}%`
    : `${c.kind}:${sign(c.amount)}`;
}

/** The shift's effect on one epoch day: neutral values before `from` or without a shift. */
export interface DayShift {
  readonly price: number;
  readonly demand: number;
  readonly temperature: number;
  readonly precipitation: number;
  readonly grade: number;
}

const NONE: DayShift = { price: 1, demand: 1, temperature: 0, precipitation: 0, grade: 0 };

export function shiftOn(shift: Shift | undefined, epochDay: number): DayShift {
  if (shift === undefined || epochDay * DAY_MS < shift.from) return NONE;
  const out = { ...NONE };
  for (const c of shift.changes) {
    if (c.kind === 'price' || c.kind === 'demand') out[c.kind] *= c.amount;
    else out[c.kind] += c.amount;
  }
  return out;
}

/** The grade a reader reports at `time` for an item of grade `quality`. */
export function reportedGrade(shift: Shift | undefined, time: number, quality: number): number {
  if (shift === undefined || time < shift.from) return quality;
  const delta = shiftOn(shift, Math.floor(time / DAY_MS)).grade;
  return delta === 0 ? quality : Math.min(5, Math.max(1, quality + delta));
}
