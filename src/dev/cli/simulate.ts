// `npm run simulate`: the rental business simulator. Produces RFID scans and POS transactions to Kafka in arrival
// order and writes the external series, ground truth, catalogue and manifest to files.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import { loggerFor } from '../../log.ts';
import { inArrivalOrder } from '../sim/arrival.ts';
import { BOOKING_LEAD_DAYS, DEFAULT_NOISE, simulate, type Simulation } from '../sim/model.ts';
import { SimFiles, defaultOutDir } from '../sim/output.ts';
import {
  openKafkaSink,
  formatSpeed,
  parseSpeed,
  produce,
  toMessage,
  type ProduceStats,
  type Speed,
} from '../sim/producer.ts';
import { SHIFT_KINDS, formatShiftChange, parseShiftChange, type ShiftChange } from '../sim/shift.ts';
import { DAY_MS, epochDayOf, isoDate, parseIsoDate } from '../sim/time.ts';
import { int, withLogOptions } from '../../cli/args.ts';
import { runCli } from '../../cli/run.ts';

const probability = (text: string): number => {
  const p = Number(text);
  if (text.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1)
    throw new InvalidArgumentError('expected a probability between 0 and 1');
  return p;
};

const speedArg = (text: string): Speed => {
  try {
    return parseSpeed(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

const dateArg = (text: string): number => {
  const day = parseIsoDate(text);
  if (Number.isNaN(day)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return day * DAY_MS;
};

const shiftArg = (text: string, previous: ShiftChange[] = []): ShiftChange[] => {
  try {
    return [...previous, parseShiftChange(text)];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

interface Opts {
  stores: number;
  days: number;
  seed: number;
  speed: Speed;
  start?: number;
  out?: string;
  kafka: boolean;
  dupRate: number;
  lateRate: number;
  malformedRate: number;
  batchSize: number;
  shiftFrom?: number;
  shift?: ShiftChange[];
}

const program = new Command('simulate')
  .description(
    'Simulate a party and event rental business: RFID scans (rfid.scans) and POS transactions (pos.transactions) ' +
      'with seasonal, weekday, weather, calendar and price-driven demand, an item lifecycle with wear and damage, ' +
      'and reader noise (double reads, late and out-of-order arrival, malformed records). Sends them to Kafka in ' +
      'arrival order and writes weather/economic/calendar series, ground truth (true demand rates, damage ' +
      'probabilities), the catalogue and a manifest to --out. Deterministic for a seed and start date.',
  )
  .addOption(
    new Option('--stores <n>', 'stores S1..Sn (time zones New York, Chicago, Los Angeles, cycling)')
      .default(3)
      .argParser(int(1)),
  )
  .addOption(new Option('--days <n>', 'days simulated').default(365).argParser(int(1)))
  .addOption(
    new Option(
      '--speed <speed>',
      'max: as fast as Kafka takes it; realtime: arrival time tracks the wall clock; N: N times real time; ' +
        'N/s: N events every second, evenly spaced (a load test)',
    )
      .default(parseSpeed('max'), 'max')
      .argParser(speedArg),
  )
  .addOption(
    new Option('--seed <n>', 'random seed; same seed and start, same events')
      .default(42)
      .argParser(int(-(2 ** 31))),
  )
  .addOption(
    new Option(
      '--start <YYYY-MM-DD>',
      'first simulated day (UTC); default: the period ends today at 00:00 UTC',
    ).argParser(dateArg),
  )
  .addOption(new Option('--out <dir>', 'folder for the files (default .stack/sim/<seed>)'))
  .addOption(new Option('--no-kafka', 'generate the files only; send nothing'))
  .addOption(
    new Option('--dup-rate <p>', 'share of scans read again by the neighbouring reader')
      .default(DEFAULT_NOISE.dupRate)
      .argParser(probability),
  )
  .addOption(
    new Option('--late-rate <p>', 'share of records arriving hours late')
      .default(DEFAULT_NOISE.lateRate)
      .argParser(probability),
  )
  .addOption(
    new Option(
      '--malformed-rate <p>',
      'share of scans with a malformed companion record (empty tag, unknown type, garbage bytes)',
    )
      .default(DEFAULT_NOISE.malformedRate)
      .argParser(probability),
  )
  .addOption(new Option('--batch-size <n>', 'records per Kafka batch').default(5000).argParser(int(1)))
  .addOption(
    new Option(
      '--shift <change>',
      `change the business from --shift-from on (repeatable), to test drift detection: ${SHIFT_KINDS.join(', ')}; ` +
        "price:+40% (prices, and demand through each class's elasticity), demand:+50%, temperature:+15 (deg F), " +
        'precipitation:+0.5 (inches a day), grade:-1 (grades readers report)',
    ).argParser(shiftArg),
  )
  .addOption(
    new Option('--shift-from <YYYY-MM-DD>', 'first day the --shift changes apply to (UTC)').argParser(
      dateArg,
    ),
  )
  .showHelpAfterError()
  .action((opts: Opts) => {
    if ((opts.shift === undefined) !== (opts.shiftFrom === undefined))
      program.error('error: --shift and --shift-from go together');
    return runCli(() => run(opts));
  });

const fmt = (n: number): string => n.toLocaleString('en-US');
const say = (line: string): void => console.log(line);
const warn = (line: string): void => console.error(`warning: ${line}`);

async function run(opts: Opts): Promise<void> {
  const config = loadConfig();
  const today = epochDayOf(Date.now()) * DAY_MS;
  const start = opts.start ?? today - opts.days * DAY_MS;
  const out = opts.out ?? defaultOutDir(opts.seed);
  const shift =
    opts.shift && opts.shiftFrom !== undefined ? { from: opts.shiftFrom, changes: opts.shift } : undefined;
  if (shift)
    console.error(
      `shift from ${isoDate(shift.from / DAY_MS)}: ${shift.changes.map(formatShiftChange).join(', ')}`,
    );
  const sim = simulate({
    stores: opts.stores,
    days: opts.days,
    seed: opts.seed,
    start,
    noise: { dupRate: opts.dupRate, lateRate: opts.lateRate, malformedRate: opts.malformedRate },
    ...(shift ? { shift } : {}),
  });
  checkAgainstPipeline(sim, config.validation);

  const files = new SimFiles(out);
  files.writeExternal(sim);
  const t0 = performance.now();
  let stats: ProduceStats | null = null;
  if (!opts.kafka) {
    for (const ev of sim.events) files.record(ev);
  } else {
    const log = loggerFor(config, 'simulate');
    const sink = await openKafkaSink(config, log);
    for (const t of sink.created)
      console.error(`created topic ${t} with retention.ms=-1 (records carry back-dated timestamps)`);
    warnRetention(sim, sink.retentionMs);
    const abort = new AbortController();
    const onSigint = (): void => {
      if (abort.signal.aborted) process.exit(130);
      console.error('interrupted: sending the batch in hand, then stopping (Ctrl-C again to quit at once)');
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const stream = inArrivalOrder(sim.events, (ev) => files.record(ev));
      stats = await produce(stream, sink, (ev, now) => toMessage(ev, sink.topics, sink.encoders, now), {
        speed: opts.speed,
        batchSize: opts.batchSize,
        signal: abort.signal,
        onProgress: (p) =>
          console.error(
            `simulated ${new Date(p.simTime).toISOString().slice(0, 16)}Z  sent ${fmt(p.sent)}  ${fmt(Math.round(p.recentPerSecond))} ev/s`,
          ),
      });
    } finally {
      process.off('SIGINT', onSigint);
      await sink.close();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const written = files.finish(sim, stats?.interrupted ? { interrupted: true } : {});
  summary(sim, opts, seconds, stats, written);
}

/** Warns when the pipeline's validation would dead-letter valid simulated records. */
function checkAgainstPipeline(
  sim: Simulation,
  rules: { storeIds: readonly string[]; maxAgeDays: number; futureMarginMs: number },
): void {
  const ids = sim.stores.map((s) => s.id);
  const unknown = ids.filter((id) => rules.storeIds.length > 0 && !rules.storeIds.includes(id));
  if (unknown.length > 0)
    warn(
      `the pipeline accepts stores ${rules.storeIds.join(', ')} (validation.storeIds), not ${unknown.join(', ')}; ` +
        `run it with TAGSTREAM__validation__storeIds='${JSON.stringify(ids)}'`,
    );
  const oldest = sim.options.start - BOOKING_LEAD_DAYS * DAY_MS;
  if (Date.now() - oldest > rules.maxAgeDays * DAY_MS)
    warn(
      `the first bookings (${isoDate(oldest / DAY_MS)}) are more than validation.maxAgeDays = ${rules.maxAgeDays} days old: the pipeline will reject them as EVENT_TIME_TOO_OLD`,
    );
  if (sim.options.end > Date.now() + rules.futureMarginMs)
    warn(
      `the period ends ${isoDate(sim.options.end / DAY_MS)}, in the future: the pipeline will reject later events as EVENT_TIME_FUTURE`,
    );
}

/** Kafka deletes closed segments whose newest record timestamp is older than retention.ms. */
function warnRetention(sim: Simulation, retentionMs: ReadonlyMap<string, number>): void {
  const oldest = sim.options.start - BOOKING_LEAD_DAYS * DAY_MS;
  for (const [topic, ms] of retentionMs)
    if (ms >= 0 && Date.now() - oldest > ms)
      warn(
        `${topic} has retention.ms = ${ms} (${(ms / DAY_MS).toFixed(1)} days) and record timestamps are arrival times back to ` +
          `${isoDate(oldest / DAY_MS)}: the broker deletes closed segments older than that within minutes, so consume while ` +
          `producing, or set retention.ms=-1 on the topic`,
      );
}

function summary(
  sim: Simulation,
  opts: Opts,
  seconds: number,
  stats: ProduceStats | null,
  written: readonly string[],
): void {
  const c = sim.counts;
  const o = sim.options;
  const m = c.malformed;
  const malformed = m['empty-tag'] + m['unknown-scan-type'] + m.garbage;
  const total = c.scans + c.duplicates + malformed + c.transactions;
  const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  const row = (label: string, n: number, extra = ''): string =>
    `  ${label.padEnd(26)}${fmt(n).padStart(11)}${extra ? `  ${extra}` : ''}`;
  say(
    `simulated ${o.stores} store(s) x ${o.days} days, ${isoDate(o.start / DAY_MS)} .. ${isoDate(o.end / DAY_MS - 1)}, seed ${o.seed}`,
  );
  say(`events (event time ${iso(c.firstEventTime)} .. ${iso(c.lastEventTime)}):`);
  say(row('scans (first reads)', c.scans));
  say(row('duplicate reads', c.duplicates));
  say(
    row(
      'malformed scans',
      malformed,
      `(empty tag ${fmt(m['empty-tag'])}, unknown scan type ${fmt(m['unknown-scan-type'])}, garbage bytes ${fmt(m.garbage)})`,
    ),
  );
  say(row('transactions', c.transactions));
  say(row('records in all', total));
  say(row('late arrivals (>= 1 h)', c.lateArrivals));
  say(
    `business: ${fmt(c.bookedUnits)} units booked, ${fmt(c.unfulfilledUnits)} unfulfilled ` +
      `(${((100 * c.unfulfilledUnits) / Math.max(1, c.bookedUnits)).toFixed(1)}%); ${fmt(c.rentals)} rentals, ` +
      `${fmt(c.damaged)} damaged; ${fmt(c.itemsInitial)} items, ${fmt(c.itemsRetired)} retired and replaced`,
  );
  if (stats) {
    const speed = formatSpeed(opts.speed);
    say(
      `kafka: sent ${fmt(stats.sent)} records in ${fmt(stats.batches)} batches in ${(stats.elapsedMs / 1000).toFixed(1)} s ` +
        `(${fmt(Math.round(stats.perSecond))} records/s, speed ${speed})` +
        (stats.cappedTimestamps ? `; ${fmt(stats.cappedTimestamps)} timestamps capped at send time` : '') +
        (stats.interrupted ? '; INTERRUPTED, the files cover what was generated so far' : ''),
    );
  } else say(`generated in ${seconds.toFixed(1)} s (no Kafka)`);
  say('files:');
  for (const f of written) say(`  ${f}`);
}

withLogOptions(program);
await program.parseAsync();
