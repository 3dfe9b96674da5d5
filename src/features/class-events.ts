// Progress markers on the class-events repartition topic (operators/progress.ts): a ClassEvent of kind 'progress'
// or 'idle' whose origin names the upstream channel (`<topic>:<partition>:-1`) and whose event_time is how far that
// channel has got. They are addressed to every partition; the class windows read them, and every other reader of
// class-events skips them.
import type { ClassEvent } from '../schemas/types.ts';

export type ProgressKind = 'progress' | 'idle';

/** The marker of `channel` (`<topic>:<partition>`): its progress to `time`, or its idleness. */
export function progressEvent(channel: string, time: number, idle: boolean): ClassEvent {
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
    origin: `${channel}:-1`,
  };
}

/** The kind of a progress marker, or undefined for an event of a class (a rental line or a scan). */
export function progressKind(e: ClassEvent): ProgressKind | undefined {
  return e.kind === 'progress' || e.kind === 'idle' ? e.kind : undefined;
}

/** The upstream channel a class event or marker came from: `<topic>:<partition>` of its origin. */
export const channelOf = (e: ClassEvent): string => e.origin.slice(0, e.origin.lastIndexOf(':'));
