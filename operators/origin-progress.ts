// Where the feature rows of a re-keyed partition have got, for their readers downstream (src/features/progress-rows.ts).
// Two stages of one flow sharing their state: `track`, first, takes every class event's origin (its clean topic, partition
// and offset; a progress marker's offset counts too: operators/progress.ts) and keeps per channel the highest offset;
// `publish`, last, passes every feature row on and at the end of each batch (and tick) sends one progress row with
// the channels that moved to each of its side ports, on the flow's own partition. Stages' end-of-batch hooks run in
// flow order, and a flush's main outputs go out before its side outputs, so the progress row follows every row it
// covers. A channel goes into a progress row only when its offset passed the one last sent (markers repeat offsets).
// Nothing is stored: after a failed batch, offsets its lost progress row named go out again once the channel passes
// them (within a marker interval on a live stream); readers keep the highest offset they have seen.
import { originOf } from '../src/features/class-events.ts';
import { progressRow } from '../src/features/progress-rows.ts';
import type { Operator } from '../src/runtime/operator.ts';
import type { ClassEvent, FeatureRow } from '../src/schemas/types.ts';

export interface OriginProgressOptions {
  readonly name: string;
  /** Side ports to send each progress row to (one per feature topic the flow writes). */
  readonly ports: readonly string[];
}

export function originProgress(opts: OriginProgressOptions): {
  track: Operator<ClassEvent, ClassEvent>;
  publish: Operator<FeatureRow, FeatureRow>;
} {
  /** Per partition: the channels taken since the last progress row, with their highest offset. */
  const moved = new Map<number, Map<string, number>>();
  /** Per partition: the offset last sent per channel. */
  const sent = new Map<number, Map<string, number>>();
  return {
    track: {
      name: `${opts.name}-track`,
      process(rec, ctx) {
        const { channel, offset } = originOf(rec.value);
        if (!(offset >= 0)) return [rec];
        if (offset <= (sent.get(ctx.partition)?.get(channel) ?? -1)) return [rec];
        let m = moved.get(ctx.partition);
        if (!m) moved.set(ctx.partition, (m = new Map()));
        if (offset > (m.get(channel) ?? -1)) m.set(channel, offset);
        return [rec];
      },
    },
    publish: {
      name: `${opts.name}-publish`,
      process: (rec) => [rec],
      onFlush(ctx) {
        const m = moved.get(ctx.partition);
        if (!m || m.size === 0) return [];
        const value = progressRow(Object.fromEntries(m), ctx.clock.now());
        let last = sent.get(ctx.partition);
        if (!last) sent.set(ctx.partition, (last = new Map()));
        for (const [channel, offset] of m) last.set(channel, offset);
        m.clear();
        for (const port of opts.ports)
          ctx.emitSide(port, { key: null, value, timestamp: value.timestamp }, ctx.partition);
        return [];
      },
    },
  };
}
