// Progress markers on the class-events repartition topic (operators/progress.ts): a ClassEvent of kind 'progress'
// or 'idle' whose origin names the upstream channel and the highest offset it has taken (`<topic>:<partition>:<offset>`,
// -1 before its first record) and whose event_time is how far that channel has got. They are addressed to every partition; the class windows read them, and every other reader of
// class-events skips them.
import type { ClassEvent } from '../schemas/types.ts';

export type ProgressKind = 'progress' | 'idle';

/** The marker of `channel` (`<topic>:<partition>`): its progress to `time` and `offset`, or its idleness. */
export function progressEvent(channel: string, time: number, idle: boolean, offset = -1): ClassEvent {
  return {
    store_id: '',
    rental_class_num: '',
    kind: idle ? 'idle' : 'progress',
    event_time: time,
    quantity: 0,
    revenue: 0,
    scan_type: null,
    tag_id: null,
    from_status: null,
    to_status: null,
    origin: `${channel}:${offset}`,
  };
}

/** The kind of a progress marker, or undefined for an event of a class (a rental line or a scan). */
export function progressKind(e: ClassEvent): ProgressKind | undefined {
  return e.kind === 'progress' || e.kind === 'idle' ? e.kind : undefined;
}

/** The upstream channel a class event or marker came from: `<topic>:<partition>` of its origin. */
export const channelOf = (e: ClassEvent): string => e.origin.slice(0, e.origin.lastIndexOf(':'));

/** The upstream channel and source offset of a class event or marker (offset -1: a marker before any record). */
export function originOf(e: ClassEvent): { channel: string; offset: number } {
  const at = e.origin.lastIndexOf(':');
  return { channel: e.origin.slice(0, at), offset: Number(e.origin.slice(at + 1)) };
}

/** Where a class event came from: its clean topic, partition and offset. */
export function originPosition(e: ClassEvent): { topic: string; partition: number; offset: string } {
  const { channel, offset } = originOf(e);
  const at = channel.lastIndexOf(':');
  return { topic: channel.slice(0, at), partition: Number(channel.slice(at + 1)), offset: String(offset) };
}
