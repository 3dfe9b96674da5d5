// Backfill for training on simulator data without the streaming path: regenerates a simulation from its manifest
// (the simulator is deterministic for its options), runs every event through the pipeline's own topology
// (pipelines/tagstream.ts: validate → item/transaction features → class windows, stock levels) on the in-process
// RecordProcessor — the code `npm run pipeline` runs, in arrival order, an Avro round trip at every hop — and writes
// what the sinks would: clean scans into id_transactions (src/app/history-sink.ts statements, items recomputed with
// its UPSERT_ITEMS_SQL) and the feature values training reads into ml_feature_store (the offline store's upsert);
// then runs the weather, economic and calendar collectors over the simulator's files (and optionally the historical
// one). Nothing is hand-computed: a year takes minutes instead of the history sink's ~1,300 scans/s.
//
// Differences from a live run, on purpose: one partition per topic (so the class windows' channel watermark waits for
// two channels, as with kafka.partitions = 1); the wall clock is frozen after the simulated period, so idle timeouts
// only fire at the end, where the clean topics' partitions are declared idle and the last windows close; internal topics are fed back at once (as the TestDriver
// does) instead of after a Kafka round trip.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../config/load.ts';
import type { Config } from '../../../config/schema.ts';
import { cleanTopic, dlqTopic, dlqTopicPrefix, inNamespace } from '../../../config/topics.ts';
import { tagstreamTopology } from '../../../pipelines/tagstream.ts';
import { UPSERT_ITEMS_SQL, upsertItemsParams, yearStartUtc } from '../../batch/history.ts';
import { runCollector, type CollectorName, type RunResult } from '../../batch/collectors.ts';
import type { ExternalPublisher } from '../../batch/publisher.ts';
import { createCollectorRuntime } from '../../batch/runtime.ts';
import { insertScansStatement, scanParams, type SourcedScan } from '../../app/history-sink.ts';
import { TagstreamError } from '../../errors.ts';
import type { Sql } from '../../io/mysql/pool.ts';
import { AvroSerde, memoryRegistry } from '../../io/registry/registry.ts';
import type { Logger } from '../../log.ts';
import { FakeClock } from '../../runtime/clock.ts';
import { noopMetrics } from '../../runtime/metrics.ts';
import { rowCells } from '../../features/vector.ts';
import { isProgressRow } from '../../features/progress-rows.ts';
import { RecordProcessor, type OutRecord } from '../../runtime/processor.ts';
import { loadSchema } from '../../schemas/catalog.ts';
import type { FeatureRow, FeatureVector, PosTransaction, RfidScan } from '../../schemas/types.ts';
import { inArrivalOrder } from '../sim/arrival.ts';
import { simulate, type SimOptions, type StreamEvent } from '../sim/model.ts';
import { FILES } from '../sim/output.ts';
import { parseShiftChange } from '../sim/shift.ts';
import { trainedOn } from '../../store/feature-store.ts';
import { createOfflineStore } from '../../store/offline.ts';

export interface BackfillOptions {
  /** The simulator's output folder (manifest.json, external/). */
  readonly simDir: string;
  /** Write every feature value, not only the ones training reads. */
  readonly allFeatures?: boolean;
  /** Also run the historical collector, one snapshot every `historicalEveryDays` days (slow: 4 queries each). */
  readonly historical?: boolean;
  readonly historicalEveryDays?: number;
  /** Feature values per MySQL write (default 20,000, in upserts of featureStore.writeBatch rows). */
  readonly flushEvery?: number;
  readonly progress?: (line: string) => void;
}

export interface BackfillStats {
  events: number;
  scansStored: number;
  featuresWritten: number;
  featuresSkipped: number;
  deadLetters: number;
  late: number;
  items: number;
  collectors: RunResult[];
  seconds: number;
}

interface Manifest {
  readonly options: {
    readonly stores: number;
    readonly days: number;
    readonly seed: number;
    readonly start: string;
    readonly noise: SimOptions['noise'];
    /** `{ from: 'YYYY-MM-DD', changes: ['price:+40%'] }` when the run injected a shift. */
    readonly shift?: { readonly from: string; readonly changes: readonly string[] };
  };
}

/** The simulation a manifest describes (same options, so the same events). */
export function simOptionsOf(simDir: string): SimOptions {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(join(simDir, FILES.manifest), 'utf8')) as Manifest;
  } catch (e) {
    throw new TagstreamError(
      'CONFIG_INVALID',
      `${join(simDir, FILES.manifest)}: ${(e as Error).message}; run \`npm run simulate -- --no-kafka --out ${simDir}\` first`,
      { cause: e },
    );
  }
  const start = Date.parse(`${m.options.start}T00:00:00Z`);
  return {
    stores: m.options.stores,
    days: m.options.days,
    seed: m.options.seed,
    start,
    ...(m.options.noise ? { noise: m.options.noise } : {}),
    ...(m.options.shift
      ? {
          shift: {
            from: Date.parse(`${m.options.shift.from}T00:00:00Z`),
            changes: m.options.shift.changes.map(parseShiftChange),
          },
        }
      : {}),
  };
}

const noPublisher: ExternalPublisher = { publish: async () => undefined, close: async () => undefined };

/** The pipeline's topology and processor as the backfill runs them: one partition, frozen clock, in-memory registry. */
export async function backfillProcessor(
  config: Config,
  clock: FakeClock,
): Promise<{ processor: RecordProcessor; serde: AvroSerde; config: Config }> {
  const single: Config = { ...config, kafka: { ...config.kafka, partitions: 1 } };
  const serde = new AvroSerde(memoryRegistry());
  const processor = await RecordProcessor.create(tagstreamTopology(single), serde, {
    pipelineVersion: `${config.pipeline.version}-backfill`,
    dlqTopic: (source) => dlqTopic(config.topics, source),
    applicationId: `${config.pipeline.groupId}-backfill`,
    clock,
    metrics: noopMetrics,
  });
  return { processor, serde, config: single };
}

export async function backfillFromSim(
  sql: Sql,
  opts: BackfillOptions,
  deps: { config?: Config; log: Logger },
): Promise<BackfillStats> {
  const t0 = performance.now();
  const say = opts.progress ?? (() => undefined);
  const base = deps.config ?? loadConfig();
  const simOpts = simOptionsOf(opts.simDir);
  const sim = simulate(simOpts);
  const end = sim.options.end;
  // Frozen after the period (and never before now, so validation's future margin holds as it does live).
  const clock = new FakeClock(Math.max(Date.now(), end + base.windows.graceMs));
  const { processor, serde, config } = await backfillProcessor(base, clock);
  const { topics } = config;
  const scanTopic = topics.scans;
  const cleanScans = cleanTopic(topics, topics.scans);
  const featureTopics = new Set([topics.featuresRealtime, topics.featuresWindowed]);
  const sources = new Set(processor.sourceTopics);
  const encodeScan = await serde.encoderFor<RfidScan>(scanTopic, loadSchema('rfidScan'));
  const encodeTx = await serde.encoderFor<PosTransaction>(topics.transactions, loadSchema('posTransaction'));
  const wanted = trainedOn(`${config.collectors.historical.windowDays}d`);
  const offline = createOfflineStore(sql, { writeBatch: config.featureStore.writeBatch });
  const flushEvery = opts.flushEvery ?? 20_000;

  const stats: BackfillStats = {
    events: 0,
    scansStored: 0,
    featuresWritten: 0,
    featuresSkipped: 0,
    deadLetters: 0,
    late: 0,
    items: 0,
    collectors: [],
    seconds: 0,
  };
  const offsets = new Map<string, number>();
  let features: FeatureVector[] = [];
  let scans: SourcedScan[] = [];
  const tags = new Set<string>();

  // One write of each kind in flight while processing goes on: the processor is CPU-bound, MySQL the rest.
  let featureWrite: Promise<void> = Promise.resolve();
  let scanWrite: Promise<void> = Promise.resolve();
  const flushFeatures = async (): Promise<void> => {
    await featureWrite;
    if (features.length === 0) return;
    const batch = features;
    features = [];
    featureWrite = offline.write(batch).then(() => {
      stats.featuresWritten += batch.length;
    });
    featureWrite.catch(() => undefined); // handled: the next flush awaits it and throws
  };
  const flushScans = async (): Promise<void> => {
    await scanWrite;
    if (scans.length === 0) return;
    const batch = scans;
    scans = [];
    scanWrite = (async () => {
      for (let i = 0; i < batch.length; i += 1000) {
        const part = batch.slice(i, i + 1000);
        await sql.execute(insertScansStatement(part.length), part.flatMap(scanParams));
      }
      stats.scansStored += batch.length;
    })();
    scanWrite.catch(() => undefined);
  };

  /** Feeds a record to its branch and routes what comes out; internal topics go straight back in. */
  const feed = async (
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    timestamp: number,
  ): Promise<void> => {
    const offset = offsets.get(topic) ?? 0;
    offsets.set(topic, offset + 1);
    if (topic === cleanScans) {
      const scan = (await serde.decode(value)) as RfidScan;
      scans.push({ scan, topic, partition: 0, offset: String(offset) });
      tags.add(scan.tag_id);
    }
    const out = await processor.process({
      topic,
      partition: 0,
      offset: String(offset),
      key,
      value,
      timestamp,
    });
    await route(out);
  };
  const route = async (out: readonly OutRecord[]): Promise<void> => {
    for (const r of out) {
      if (sources.has(r.topic) && r.value !== null) await feed(r.topic, r.key, r.value, r.timestamp);
      else if (featureTopics.has(r.topic)) {
        const row = (await serde.decode(r.value)) as FeatureRow;
        // Progress rows tell serving how far the online store has got: nothing to log.
        if (isProgressRow(row)) continue;
        for (const f of rowCells(row)) {
          if (opts.allFeatures || wanted(f)) features.push(f);
          else stats.featuresSkipped++;
        }
      } else if (r.topic.startsWith(dlqTopicPrefix(topics))) stats.deadLetters++;
      else if (r.topic.startsWith(inNamespace(topics, topics.latePrefix))) stats.late++;
    }
  };

  say(
    `regenerating the simulation of ${opts.simDir} (${simOpts.stores} stores, ${simOpts.days} days, seed ${simOpts.seed}) ` +
      `and running it through the ${processor.topology.name} topology`,
  );
  let lastReport = performance.now();
  const stream: Iterable<StreamEvent> = inArrivalOrder(sim.events);
  for (const ev of stream) {
    if (ev.kind === 'transaction')
      await feed(topics.transactions, Buffer.from(ev.key), encodeTx(ev.tx), ev.arrival);
    else
      await feed(
        scanTopic,
        ev.key === null ? null : Buffer.from(ev.key),
        ev.raw ?? encodeScan(ev.scan),
        ev.arrival,
      );
    stats.events++;
    if (features.length >= flushEvery) await flushFeatures();
    if (scans.length >= flushEvery) await flushScans();
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      say(
        `  ${new Date(ev.time).toISOString().slice(0, 10)}: ${stats.events.toLocaleString('en-US')} events, ` +
          `${(stats.scansStored + scans.length).toLocaleString('en-US')} scans, ` +
          `${(stats.featuresWritten + features.length).toLocaleString('en-US')} feature values ` +
          `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }
  // The period is over: let the idle timeout pass so the last windows of every key close, as they would live (the
  // clean topics' flows declare their partition idle first, then the class windows follow the clock).
  clock.advance(config.windows.idleTimeoutMs + 1);
  for (const source of processor.sourceTopics) {
    if (!processor.ticks(source)) continue;
    for (const p of processor.isStateful(source) ? processor.statePartitions(source) : [0])
      await route(processor.tick(source, p));
  }
  await flushFeatures();
  await flushScans();
  await Promise.all([featureWrite, scanWrite]);

  say(`recomputing ${tags.size} items in id_item_master from their history`);
  const tagList = [...tags].sort();
  for (let i = 0; i < tagList.length; i += 500)
    await sql.execute(
      UPSERT_ITEMS_SQL,
      upsertItemsParams(tagList.slice(i, i + 500), config.windows.dedupWindowMs, yearStartUtc(clock.now())),
    );
  stats.items = tagList.length;

  // The batch collectors over the simulator's files, for the simulated period.
  const firstDay = Math.floor(sim.options.start / 86_400_000);
  const lastDay = Math.floor((end - 1) / 86_400_000);
  const runtime = await createCollectorRuntime(config, {
    log: deps.log,
    sourceDir: join(opts.simDir, 'external'),
    publisher: noPublisher,
  });
  try {
    const names: CollectorName[] = ['weather', 'economic', 'calendar'];
    for (const name of names) {
      const r = await runCollector(name, { from: firstDay, to: lastDay }, runtime.deps);
      stats.collectors.push(r);
      say(`collector ${name}: ${r.ok ? `${r.features} feature values` : `failed: ${r.error?.message}`}`);
    }
    if (opts.historical) {
      const every = opts.historicalEveryDays ?? 1;
      for (let d = firstDay; d <= lastDay; d += every) {
        const r = await runCollector('historical', { from: d, to: d }, runtime.deps);
        stats.collectors.push(r);
        if (!r.ok) throw r.error ?? new TagstreamError('INTERNAL', 'historical collector failed');
        if ((d - firstDay) % (every * 30) === 0)
          say(
            `collector historical: ${new Date(d * 86_400_000).toISOString().slice(0, 10)} (${r.features} values)`,
          );
      }
    }
  } finally {
    await runtime.close();
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}
