// Reorders the simulator's event-time stream into arrival order (what a broker would see) with a bounded buffer.
import { MinHeap } from '../../../operators/lib/heap.ts';
import { isStreamEvent, type SimEvent, type StreamEvent } from './model.ts';

/**
 * Yields the stream events of `events` (which come in event-time order) in arrival order. An event still to come
 * arrives no earlier than its event time, which is no earlier than the current one, so everything that arrived
 * before the current event time can go. The heap therefore holds only events whose delay spans the current
 * time: at most `maxLateMs` of event time. Other events (ground truth) go to `onOther` as they pass.
 */
export function* inArrivalOrder(
  events: Iterable<SimEvent>,
  onOther: (ev: SimEvent) => void = () => undefined,
): Generator<StreamEvent, void, undefined> {
  const heap = new MinHeap<StreamEvent>();
  for (const ev of events) {
    if (!isStreamEvent(ev)) {
      onOther(ev);
      continue;
    }
    while ((heap.peekKey() ?? Infinity) < ev.time) yield heap.pop()!;
    heap.push(ev.arrival, ev);
  }
  while (heap.size > 0) yield heap.pop()!;
}

/**
 * Reads an arrival-ordered stream in stretches: `until(t)` yields the events that arrive before `t` and keeps the
 * first one after it for the next stretch (a for-of left early would close the shared generator instead).
 */
export function stretches(events: Iterator<StreamEvent>): (t: number) => Generator<StreamEvent> {
  let pending: StreamEvent | undefined;
  return function* until(t: number): Generator<StreamEvent> {
    for (;;) {
      const ev = pending ?? (events.next().value as StreamEvent | undefined);
      pending = undefined;
      if (ev === undefined) return;
      if (ev.arrival >= t) {
        pending = ev;
        return;
      }
      yield ev;
    }
  };
}
