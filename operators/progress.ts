// Event-time progress through a re-keyed topic, like Flink's watermarks through a shuffle. A flow that re-keys its
// records into an internal topic (items and transactions into class-events) merges every one of its input
// partitions into every partition of that topic; a window stage downstream takes the least progress over those
// input partitions (its channels) as its watermark. This pass-through stage tells every partition of the topic how
// far its input partition has got, so that a channel that sent a downstream partition nothing lately still counts:
//  - a progress marker (the highest event time and the highest offset taken from the input partition) at the end of
//    a batch, at most once per intervalMs of wall-clock time and only when one of them moved. The offset tells a
//    reader of the re-keyed topic that it has seen everything the input partition sent it up to there, even when a
//    record sent it nothing (operators/origin-progress.ts);
//  - an idle marker once the input partition is caught up (no lag left), has taken no record for idleTimeoutMs, and
//    was live when it went quiet (its newest record came within graceMs of its event time): downstream, the channel
//    then stops holding the watermark back until it sends again (a record or progress).
// Idleness is judged here, where the lag is known, and not downstream by wall-clock silence; and only for live data:
// a partition caught up on history (days old) is quiet because a stage before it is still working through a
// backlog, not because its source went quiet, so it is never declared idle and no window closes before its
// records arrive. The stage keeps no stored state: after a restart it starts again from the next
// record (a downstream channel's progress only ever moves forward).
import type { Operator, StageContext } from '../src/runtime/operator.ts';

export interface ProgressOptions<In> {
  readonly name: string;
  /** The flow's source topic: a channel is `<source>:<partition>`. */
  readonly source: string;
  /** The side port of the re-keyed topic, and its partition count. */
  readonly port: string;
  readonly partitions: number;
  /** Event time of an input value. */
  readonly time: (value: In) => number;
  /** The marker record's value: the channel's progress to `time` and `offset`, or its idleness. */
  readonly marker: (channel: string, time: number, idle: boolean, offset: number) => unknown;
  readonly intervalMs: number;
  readonly idleTimeoutMs: number;
  /** A partition whose newest record came later than this after its event time was behind, not live. */
  readonly graceMs: number;
}

interface Channel {
  /** Highest event time taken. */
  max: number;
  /** Highest source offset taken (-1: none yet). */
  offset: number;
  /** Progress last sent (event time, offset), and when. */
  sent: number;
  sentOffset: number;
  sentWall: number;
  /** Wall time of the last record (or of the first look at the partition). */
  lastRecordWall: number;
  idleSent: boolean;
}

export function progressMarkers<In>(opts: ProgressOptions<In>): Operator<In, In> {
  const channels = new Map<number, Channel>();
  const channelOf = (ctx: StageContext): Channel => {
    let c = channels.get(ctx.partition);
    if (!c) {
      c = {
        max: Number.NEGATIVE_INFINITY,
        offset: -1,
        sent: Number.NEGATIVE_INFINITY,
        sentOffset: -1,
        sentWall: Number.NEGATIVE_INFINITY,
        lastRecordWall: ctx.clock.now(),
        idleSent: false,
      };
      channels.set(ctx.partition, c);
    }
    return c;
  };
  const send = (ctx: StageContext, c: Channel, time: number, idle: boolean): void => {
    const value = opts.marker(`${opts.source}:${ctx.partition}`, time, idle, c.offset);
    for (let p = 0; p < opts.partitions; p++)
      ctx.emitSide(opts.port, { key: null, value, timestamp: time }, p);
  };
  const flushProgress = (ctx: StageContext, c: Channel): void => {
    const now = ctx.clock.now();
    if ((c.max <= c.sent && c.offset <= c.sentOffset) || now - c.sentWall < opts.intervalMs) return;
    send(ctx, c, Number.isFinite(c.max) ? c.max : 0, false);
    c.sent = c.max;
    c.sentOffset = c.offset;
    c.sentWall = now;
  };
  return {
    name: opts.name,
    process(rec, ctx) {
      const c = channelOf(ctx);
      c.max = Math.max(c.max, opts.time(rec.value));
      c.offset = Math.max(c.offset, Number(ctx.source.offset));
      c.lastRecordWall = ctx.clock.now();
      c.idleSent = false;
      return [rec];
    },
    onFlush(ctx) {
      flushProgress(ctx, channelOf(ctx));
      return [];
    },
    onTime(ctx) {
      const c = channelOf(ctx);
      const now = ctx.clock.now();
      const caughtUp = (ctx.inputLag ?? 0) === 0;
      const live = c.lastRecordWall - c.max <= opts.graceMs;
      if (!c.idleSent && caughtUp && live && now - c.lastRecordWall >= opts.idleTimeoutMs) {
        // The idle marker carries the progress too: nothing newer may follow it until a record does.
        send(ctx, c, Number.isFinite(c.max) ? c.max : 0, true);
        c.idleSent = true;
        c.sent = c.max;
        c.sentOffset = c.offset;
        c.sentWall = now;
      }
      return [];
    },
  };
}
