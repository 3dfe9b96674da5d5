// `npm run bench:windows`: the event-time window operator alone, in process (no Kafka, no Avro), with the five
// standard windows over the pipeline's class measures; state changes are taken and JSON-encoded every batch like
// the runtime's commit, so change tracking is part of the measured cost. Besides wall-clock events/s it prints the
// process's CPU time, steadier than the wall clock on a shared machine, and the state entries per store.
import { seeded } from '../test/ml/random-spec.ts';
import { Command } from 'commander';
import { windowAggregate, type WindowResult } from '../operators/window-aggregate.ts';
import { DAY, standardWindows } from '../operators/windows.ts';
import { CLASS_MEASURES } from '../pipelines/features.ts';
import type { ClassEvent } from '../src/schemas/types.ts';
import { OperatorHarness } from '../test/operators/harness.ts';

const opts = new Command('bench:windows')
  .description('Measure the window operator in process: 5 standard windows, 40 classes x 3 stores')
  .option('--events <n>', 'events to push through', '1000000')
  .option('--span-days <d>', 'event-time span in days (sets how many events a 7-day window holds)', '365')
  .option('--batch <n>', 'events per commit (changelog taken) and wall-clock tick', '1000')
  .option('--grace-ms <ms>', 'grace period', String(10 * 60_000))
  .option('--emit <mode>', 'update, final or both', 'final')
  .option('--seed <n>', 'random seed', '42')
  .parse()
  .opts<{ events: string; spanDays: string; batch: string; graceMs: string; emit: string; seed: string }>();

const n = Number(opts.events);
const batch = Number(opts.batch);
const emit = opts.emit as 'update' | 'final' | 'both';
if (!Number.isInteger(n) || n <= 0 || !Number.isInteger(batch) || batch <= 0)
  throw new Error('bad --events/--batch');
if (!['update', 'final', 'both'].includes(emit)) throw new Error(`bad --emit ${opts.emit}`);

const ZONES: Readonly<Record<string, string>> = {
  S1: 'America/New_York',
  S2: 'America/Chicago',
  S3: 'America/Los_Angeles',
};
const STORES = Object.keys(ZONES);
const CLASSES = Array.from({ length: 40 }, (_, i) => `RC-${i}`);
const windows = standardWindows((key) => ZONES[key.split('|')[0] ?? ''] ?? 'UTC');

// Seeded, so runs are comparable.
const rand = seeded(Number(opts.seed));

const h = new OperatorHarness<ClassEvent, WindowResult>(
  () =>
    windowAggregate<ClassEvent>({
      name: 'class-windows',
      windows,
      key: (e) => `${e.store_id}|${e.rental_class_num}`,
      time: (e) => e.event_time,
      aggregate: CLASS_MEASURES,
      graceMs: Number(opts.graceMs),
      emit,
      idleTimeoutMs: 30_000,
    }),
  { startTime: Date.UTC(2026, 2, 1), autoCommit: false, keepChangelog: false },
);

const meanGapMs = (Number(opts.spanDays) * DAY) / n;
const t0 = Date.UTC(2026, 2, 1);
let base = t0;
let finals = 0;
let updates = 0;
let sliding = 0;
const count = (out: readonly { value: WindowResult }[]) => {
  for (const r of out) {
    if (r.value.final) finals++;
    else if (r.value.window === '7d') sliding++;
    else updates++;
  }
};

// Roughly in order: 90% within 2 s of the stream's front, 9% up to 5 min behind, 1% up to an hour (late).
const delay = () => {
  const u = rand();
  return u < 0.9 ? rand() * 2_000 : u < 0.99 ? rand() * 300_000 : rand() * 3_600_000;
};

const started = performance.now();
const cpuStart = process.cpuUsage();
for (let i = 0; i < n; i++) {
  const gap = rand() * 2 * meanGapMs;
  base += gap;
  h.clock.advance(gap); // the wall clock runs with the stream, so partitions never look idle
  const store = STORES[Math.floor(rand() * STORES.length)] as string;
  const cls = CLASSES[Math.floor(rand() * CLASSES.length)] as string;
  const rental = rand() < 0.3;
  const eventTime = Math.round(base - delay());
  const value: ClassEvent = {
    store_id: store,
    rental_class_num: cls,
    kind: rental ? 'rental' : 'scan',
    event_time: eventTime,
    quantity: 1,
    revenue: rental ? Math.round(rand() * 20_000) / 100 : 0,
    scan_type: rental ? null : (['out', 'return', 'damage', 'in'][Math.floor(rand() * 4)] as string),
    tag_id: rental ? null : `TAG-${Math.floor(rand() * 100_000)}`,
    from_status: null,
    to_status: null,
    origin: `bench:0:${i}`,
  };
  count(h.push({ key: Buffer.from(`${store}|${cls}`), value, timestamp: eventTime }));
  if ((i + 1) % batch === 0) {
    count(h.tickAll());
    h.commit();
  }
}
count(h.tickAll());
h.commit();
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
// State held at the end of the stream, per store (summed over partitions): what a restore reads back.
const entries = (h.operator.stores ?? []).map(
  (name) =>
    `${name.slice(name.lastIndexOf('.') + 1)} ${h.partitions().reduce((n, p) => n + h.store(p, name).size, 0)}`,
);
const late = h.takeSide('late').length;
const mem = process.memoryUsage();

// Close everything that is still open (not timed): the final results of the last windows.
count(h.advanceWallClock(30 * DAY));
h.commit();

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const perSec = Math.round(n / seconds);
console.log(
  [
    `bench:windows: ${n} events over ${opts.spanDays} days, ${STORES.length * CLASSES.length} keys, ` +
      `${windows.length} windows (${windows.map((w) => w.name).join(', ')}), grace ${opts.graceMs} ms, emit ${emit}, ` +
      `commit every ${batch}`,
    `  ${perSec} events/s (${seconds.toFixed(1)} s); ${Math.round(perSec * windows.length)} window updates/s, ` +
      `${((seconds * 1e6) / (n * windows.length)).toFixed(2)} us per window update; ` +
      `CPU ${cpuSeconds.toFixed(1)} s (${Math.round(n / cpuSeconds)} events per CPU second)`,
    `  ${finals} final results, ${updates} updates, ${sliding} sliding (7d) results, ${late} late side records`,
    `  changelog: ${h.changelogRecords} records, ${mib(h.changelogBytes)} MiB; ` +
      `state at the end of the stream: ${entries.join(', ')} entries`,
    `  memory at the end of the stream: heap ${mib(mem.heapUsed)} MiB, rss ${mib(mem.rss)} MiB ` +
      `(peak rss ${mib(process.resourceUsage().maxRSS * 1024)} MiB)`,
  ].join('\n'),
);
