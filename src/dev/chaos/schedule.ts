// The fault schedule: which faults, when (seconds after the chaos run starts), from a seed. Pure, so that a seed
// names one schedule: `npm run chaos -- --seed 7` does the same faults at the same moments again.
import { Rng } from '../sim/rng.ts';

export type FaultKind =
  | 'kill' // kill -9 of a running instance; a new one starts after `restartAfterS`
  | 'join' // one more instance starts
  | 'leave' // an instance that joined stops cleanly (SIGTERM)
  | 'broker' // the broker stops (SIGTERM) and starts again
  | 'registry' // the schema registry stops and starts again
  | 'redis' // redis-server killed, started again empty after `outageS`
  | 'mariadb' // mariadbd killed, started again on its data after `outageS`
  | 'garbage'; // garbage, unknown schema ids, oversized values and keys into every partition of every consumed topic

export interface Fault {
  readonly at: number;
  readonly kind: FaultKind;
  /** kill: seconds before the replacement starts. */
  readonly restartAfterS?: number;
  /** redis, mariadb: seconds down. */
  readonly outageS?: number;
  /** kill: which running instance, as a fraction of the list (so that the choice is seeded too). */
  readonly pick?: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  /** Seconds of the fault phase (the input is produced over it). */
  readonly durationS: number;
  readonly kills: number;
  /** Instances that join and later leave. */
  readonly joins: number;
  readonly outageS: number;
}

/**
 * Faults at seeded moments in the phase: the outages start early enough to end before it does, a leave comes after
 * its join, the broker and registry restarts and the garbage fall anywhere in the middle; the kills spread evenly
 * (one per slot, at a random point of it) so that a long run keeps killing to the end.
 */
export function schedule(o: ScheduleOptions): Fault[] {
  const rng = Rng.stream(o.seed, 'chaos-schedule');
  const d = o.durationS;
  const at = (from: number, to: number): number => Math.round(rng.between(from * d, to * d) * 10) / 10;
  const faults: Fault[] = [];
  const outageEnd = Math.max(0.1, 0.9 - o.outageS / d);
  faults.push({ at: at(0.05, outageEnd), kind: 'mariadb', outageS: o.outageS });
  faults.push({ at: at(0.05, outageEnd), kind: 'redis', outageS: o.outageS });
  faults.push({ at: at(0.15, 0.75), kind: 'broker' });
  faults.push({ at: at(0.15, 0.75), kind: 'registry' });
  faults.push({ at: at(0.1, 0.8), kind: 'garbage' });
  for (let i = 0; i < o.joins; i++) {
    const join = at(0.05, 0.5);
    faults.push({ at: join, kind: 'join' });
    faults.push({ at: Math.round((join + rng.between(0.1, 0.4) * d) * 10) / 10, kind: 'leave' });
  }
  const slot = (0.9 * d) / Math.max(1, o.kills);
  for (let i = 0; i < o.kills; i++)
    faults.push({
      at: Math.round((0.05 * d + slot * (i + rng.float())) * 10) / 10,
      kind: 'kill',
      restartAfterS: Math.round(rng.between(0.2, 3) * 10) / 10,
      pick: rng.float(),
    });
  return faults.sort((a, b) => a.at - b.at);
}
