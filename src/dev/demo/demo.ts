// The main job (`npm run demo`): on a fresh machine, everything end to end.
//  1. the stack (Kafka, schema registry, MariaDB migrations, Redis) if it is not up;
//  2. a namespace of its own: topics `demo-<run>.*`, consumer groups `demo-<run>*`, Redis keys `demo-<run>:`, the
//     database tagstream_demo (made anew), so a demo never mixes with other data and a re-run starts clean;
//  3. the whole pipeline (ingest, features, feature store, serving, alert rules) and /metrics;
//  4. history: the simulator's days before the live day, sent to Kafka at full speed and streamed through the
//     pipeline (progress bar on the consumer lag), plus the weather, economic and calendar collectors;
//  5. training: the training job on that history; the first model of a service is promoted even where the gate
//     says no (there is no production model to keep), and the demo says so;
//  6. the live day, sent at an accelerated speed while the pipeline scores every event with the new models (hot
//     swap, no restart), with a compact live view: events/s, lag, predictions per service, latest alerts;
//  7. a summary; without --quick it keeps serving until Ctrl-C.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { cleanTopic, predictionTopic, withNamespace } from '../../../config/topics.ts';
import type { Config } from '../../../config/schema.ts';
import { startJob, type RunningJob } from '../../app/job.ts';
import { servingConfig } from '../../app/serving.ts';
import { createCollectorRuntime } from '../../batch/runtime.ts';
import { runCollector, type CollectorName } from '../../batch/collectors.ts';
import { SERVICES, alertBranches } from '../../../pipelines/serving.ts';
import { createKafka, mapKafkaError, type KafkaAdmin, type KafkaClient } from '../../io/kafka/client.ts';
import { createSql, splitDatabase, withDatabase } from '../../io/mysql/pool.ts';
import type { Logger } from '../../log.ts';
import { promoteAndPublish, kafkaModelPublisher } from '../../ml/registry/publisher.ts';
import { createModelRegistry } from '../../ml/registry/registry.ts';
import { summaryLines } from '../../ml/train/job.ts';
import { trainWithConfig } from '../../ml/train/run.ts';
import { groundTruthOf } from '../ml/ground-truth.ts';
import { AvroSerde, confluentRegistry } from '../../io/registry/registry.ts';
import { inArrivalOrder, stretches } from '../sim/arrival.ts';
import { makeStores, type Store } from '../sim/catalogue.ts';
import { simulate, type DamageTruth } from '../sim/model.ts';
import { SimFiles } from '../sim/output.ts';
import { openKafkaSink, produce, toMessage } from '../sim/producer.ts';
import type { StreamEvent } from '../sim/model.ts';
import { stackDown, stackUp } from '../stack/manager.ts';
import { TagstreamError } from '../../errors.ts';
import { Bar, LiveView, groupLag, type Say } from './view.ts';

const DAY_MS = 86_400_000;

export interface DemoOptions {
  readonly quick: boolean;
  readonly stores: number;
  /** Days of history before the live day. */
  readonly historyDays: number;
  /** The live day is sent at this many times real time. */
  readonly speed: number;
  readonly seed: number;
  /** Leave the stack running when the demo started it (default: stop what the demo started). */
  readonly keepStack: boolean;
  /** Keep serving after the live day until Ctrl-C (the default without --quick). */
  readonly stay: boolean;
  /** Redraw the live view in place (a TTY) or print a line every few seconds. */
  readonly tty: boolean;
}

/**
 * The demo's own namespace on top of the configured services: topics, groups and Redis keys under `<name>-<run>`,
 * the database tagstream_<name> (the e2e bench uses name `bench`).
 */
export function demoConfig(
  base: Config,
  run: string,
  quick = false,
  stores: readonly Pick<Store, 'id' | 'zone'>[] = makeStores(3),
  name = 'demo',
): Config {
  const ns = `${name}-${run}`;
  // Every topic in the namespace, once: `demo-x.rfid.scans`, `demo-x.dlq.clean.rfid.scans` (config/topics.ts).
  const topics = withNamespace(base.topics, ns);
  return {
    ...base,
    topics,
    pipeline: { ...base.pipeline, groupId: ns },
    featureStore: { ...base.featureStore, redisPrefix: `${ns}:` },
    // The simulated stores and their zones (the simulator cycles New York, Chicago, Los Angeles).
    validation: { ...base.validation, storeIds: stores.map((s) => s.id) },
    stores: { ...base.stores, timeZones: Object.fromEntries(stores.map((s) => [s.id, s.zone])) },
    // Another database on the same server: the user, password and TLS options of the URL stay (withDatabase).
    mysql: { url: withDatabase(base.mysql.url, `tagstream_${name}`) },
    serving: {
      ...base.serving,
      // A short history has few items with K more rentals after one: --quick predicts damage in the next rental.
      ...(quick ? { maintenanceK: 1 } : {}),
      retrain: { ...base.serving.retrain, enabled: false },
    },
  };
}

export interface DemoResult {
  readonly predictions: Readonly<Record<string, number>>;
  readonly alerts: number;
}

/** The smallest history the demo trains on: a 7-day holdout after 23 days to train and validate on. */
export const MIN_DEMO_DAYS = 30;

/**
 * Training options that fit the history: the holdout is a quarter of it, 7 to 14 days (a year: 14), and a short
 * history (under 90 days) gets 2 folds and the small grid, as --quick does.
 */
export function demoTraining(
  quick: boolean,
  historyDays: number,
): { holdoutDays: number; folds?: number; grid?: 'small' } {
  if (historyDays < MIN_DEMO_DAYS)
    throw new TagstreamError(
      'CONFIG_INVALID',
      `--days ${historyDays} is too short to train a model: use --days ${MIN_DEMO_DAYS} or more`,
    );
  const holdoutDays = Math.min(14, Math.max(7, Math.floor(historyDays / 4)));
  return quick || historyDays < 90 ? { holdoutDays, folds: 2, grid: 'small' } : { holdoutDays };
}

/** Runs the demo; resolves after the live day (and, with `stay`, after Ctrl-C). */
export async function runDemo(base: Config, opts: DemoOptions, log: Logger, say: Say): Promise<DemoResult> {
  const t0 = performance.now();
  const step = (n: number, text: string): void =>
    say(`\n[${n}/7] ${text}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);

  step(1, 'stack: Kafka, schema registry, MariaDB, Redis');
  const { started } = await stackUp(base, (line) => say(`  ${line}`));
  const run = new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(2, 14);
  const config = demoConfig(base, run, opts.quick, makeStores(opts.stores));
  const kafka = createKafka(config, log.child({ component: 'demo' }), `${config.kafka.clientId}-demo`);
  const admin = kafka.admin();
  let job: RunningJob | undefined;
  let closeSink: (() => Promise<void>) | undefined;
  let view: LiveView | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopAll());
  const stopAll = async (): Promise<void> => {
    view?.stop();
    await closeSink?.().catch(() => undefined);
    await job?.stop().catch((e: unknown) => log.warn({ err: e }, 'stopping the pipeline'));
    await admin.disconnect().catch(() => undefined);
    if (started.length && !opts.keepStack) {
      say(`stopping what the demo started: ${started.join(', ')} (--keep-stack leaves it running)`);
      await stackDown(base, (line) => say(`  ${line}`), started);
    }
  };
  // Ctrl-C: while serving (after the summary) it ends the wait; before that it stops everything and exits.
  let staying: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (staying) return staying();
    say(`\n${signal}: stopping the pipeline cleanly (committed work is kept)`);
    void stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    step(
      2,
      `namespace demo-${run}: fresh topics, consumer groups, Redis keys and the database tagstream_demo`,
    );
    await admin.connect().catch((e: unknown) => {
      throw mapKafkaError(e, config.kafka.brokers, 'connecting');
    });
    await dropPreviousRuns(admin, config, 'demo', say);
    const sql = createSql(splitDatabase(config.mysql.url).serverUrl);
    await sql.execute('DROP DATABASE IF EXISTS `tagstream_demo`');
    await sql.end();

    step(3, 'pipeline: ingest, features, feature store, serving, alert rules; /metrics');
    // The same job as `npm run pipeline -- --api` (src/app/job.ts): streams, sink nodes, serving, REST API.
    job = await startJob(config, { streams: true, serving: true, api: {} }, { log });
    const { serving, api } = job;
    if (!serving || !api)
      throw new TagstreamError('INTERNAL', 'the demo job started without serving or the API');
    say(
      `  metrics on http://${config.metrics.host}:${job.metricsPort}/metrics, API on ${api.url} (/openapi.json)`,
    );

    // The simulated period ends at today 00:00 UTC; its last day is the live day.
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const liveStart = today - DAY_MS;
    const start = liveStart - opts.historyDays * DAY_MS;
    const dir = join(config.stack.dir, 'demo', run);
    const sim = simulate({ stores: opts.stores, days: opts.historyDays + 1, seed: opts.seed, start });
    const files = new SimFiles(dir);
    files.writeExternal(sim);
    // The damage truth seen so far: training reports the maintenance ceiling on its holdout with it.
    const truths: DamageTruth[] = [];
    const events = inArrivalOrder(sim.events, (ev) => {
      files.record(ev);
      if (ev.kind === 'damage-truth') truths.push(ev.truth);
    });
    const sink = await openKafkaSink(config, log);
    closeSink = () => sink.close();
    const encode = (ev: StreamEvent, now: number) => toMessage(ev, sink.topics, sink.encoders, now);
    // Arrival order, in stretches: everything before one time, then up to the next.
    const until = stretches(events);

    step(
      4,
      `history: ${opts.stores} store(s) x ${opts.historyDays} days (${iso(start)} .. ${iso(liveStart - 1)}) at full speed`,
    );
    const sent = await produce(until(liveStart), sink, encode, { speed: { kind: 'max' } });
    say(`  sent ${sent.sent.toLocaleString('en-US')} records in ${(sent.elapsedMs / 1000).toFixed(1)} s`);
    await runCollectors(config, dir, Math.floor(start / DAY_MS), Math.floor(today / DAY_MS) + 7, log, say);
    const groups = pipelineGroups(config);
    await waitCaughtUp(admin, groups, say, opts.tty, 'streaming the history through the pipeline');

    step(5, 'training: demand, maintenance, quality (time-ordered CV, validation gate, registry)');
    const result = await trainWithConfig(
      config,
      { ...demoTraining(opts.quick, opts.historyDays), groundTruth: groundTruthOf(truths) },
      {
        log,
        progress: (line) => log.debug(line),
      },
    );
    for (const line of summaryLines(result)) say(`  ${line}`);
    const production = await promoteFirstModels(config, kafka, say);
    // The running pipeline swaps the new versions in without a restart.
    await waitFor(() => production.every((s) => serving!.watcher.current(s)), 30_000);
    say(`  serving: ${JSON.stringify(serving.watcher.versions())}`);

    step(
      6,
      `live day ${iso(liveStart)} at ${opts.speed}x real time (${(DAY_MS / opts.speed / 1000).toFixed(0)} s)`,
    );
    view = new LiveView(admin, job, api.cache, groups[0]!, say, opts.tty);
    view.start();
    await produce(until(today), sink, encode, { speed: { kind: 'factor', factor: opts.speed } });
    await sink.close();
    files.finish(sim);
    view.stop();
    await waitCaughtUp(admin, groups, say, opts.tty, 'scoring the last events');
    view.render(true);

    step(7, 'summary');
    const counts = await view.counts();
    for (const s of SERVICES) say(`  predictions.${s.padEnd(12)} ${counts.predictions[s] ?? 0}`);
    say(`  alerts                   ${counts.alerts}`);
    for (const a of await view.latestAlerts(5)) say(`    ${a}`);
    say(`  took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const missing = SERVICES.filter((s) => !(counts.predictions[s] ?? 0));
    if (missing.length > 0 || counts.alerts === 0)
      throw new TagstreamError(
        'INTERNAL',
        `the demo ended without ${[...missing.map((s) => `${s} predictions`), ...(counts.alerts ? [] : ['alerts'])].join(', ')}: see the log above`,
      );
    if (opts.stay) {
      say('\nserving until Ctrl-C (the pipeline keeps running; send more with `npm run simulate`)');
      view.start();
      await new Promise<void>((resolve) => (staying = resolve));
    }
    return counts;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/** Consumer groups of the pipeline and their source topics (for lag). */
export function pipelineGroups(config: Config): { group: string; topics: string[]; internal: string[] }[] {
  const t = config.topics;
  const clean = [cleanTopic(t, t.scans), cleanTopic(t, t.transactions)];
  const predictions = SERVICES.map((s) => predictionTopic(t, s));
  const g = config.pipeline.groupId;
  return [
    { group: g, topics: [t.scans, t.transactions], internal: [...clean, t.classEvents] },
    { group: `${g}-history`, topics: [], internal: [clean[0]!] },
    { group: `${g}-feature-store`, topics: [], internal: [t.featuresRealtime, t.featuresWindowed] },
    {
      group: servingConfig(config).pipeline.groupId,
      topics: [],
      // The scoring flows' inputs and the predictions topics the alert rules judge (pipelines/serving.ts).
      internal: [...clean, t.classEvents, ...alertBranches(config).map((b) => b.source)],
    },
    {
      group: `${g}-predictions`,
      topics: [],
      internal: [...predictions, t.alerts],
    },
  ];
}

/**
 * Waits until every group has read everything; the bar follows the main group through the source topics (what
 * was sent), the line says how much the later stages still have to read.
 */
/**
 * Waits until every group of the job has read everything, with a progress bar naming the group furthest behind.
 * Returns, per group, its lag summed over the samples (about records × seconds waiting): where the backlog waited.
 */
export async function waitCaughtUp(
  admin: KafkaAdmin,
  groups: ReturnType<typeof pipelineGroups>,
  say: Say,
  tty: boolean,
  what: string,
): Promise<Map<string, number>> {
  const bar = new Bar(what, say, tty);
  const sources = groups[0]!.topics;
  const waited = new Map<string, number>(groups.map((g) => [g.group, 0]));
  let quiet = 0;
  let failures = 0;
  for (;;) {
    let total: number;
    let sourceLag: number;
    let lags: number[];
    try {
      total = (await Promise.all(sources.map((t) => admin.topicOffsets(t))))
        .flat()
        .reduce((n, p) => n + Number(p.high), 0);
      sourceLag = await groupLag(admin, { group: groups[0]!.group, topics: sources, internal: [] });
      lags = await Promise.all(groups.map((g) => groupLag(admin, g)));
      failures = 0;
    } catch (e) {
      // A job starting in another process may not have created its topics yet: ask again, for a while.
      if (++failures >= 60) throw e;
      await new Promise((r) => setTimeout(r, 1_000));
      continue;
    }
    const lag = lags.reduce((a, b) => a + b, 0);
    let worst = 0;
    lags.forEach((l, i) => {
      const g = groups[i]!.group;
      waited.set(g, (waited.get(g) ?? 0) + l);
      if (l > (lags[worst] ?? 0)) worst = i;
    });
    const behind =
      lag === 0 ? '' : `, most in ${groups[worst]!.group} (${lags[worst]!.toLocaleString('en-US')})`;
    bar.update(
      total - sourceLag,
      total,
      `to read: ${lag.toLocaleString('en-US')} records in all stages${behind}`,
    );
    // Caught up when every group is at the end twice in a row (outputs of one stage are inputs of the next).
    quiet = lag === 0 ? quiet + 1 : 0;
    if (quiet >= 2) break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  bar.done();
  return waited;
}

export async function runCollectors(
  config: Config,
  dir: string,
  from: number,
  to: number,
  log: Logger,
  say: Say,
): Promise<void> {
  const runtime = await createCollectorRuntime(config, { log, sourceDir: join(dir, 'external') });
  try {
    for (const name of ['weather', 'economic', 'calendar'] as CollectorName[]) {
      const r = await runCollector(name, { from, to }, runtime.deps);
      say(`  collector ${name}: ${r.ok ? `${r.features} feature values` : `FAILED ${r.error?.message}`}`);
    }
  } finally {
    await runtime.close();
  }
}

/**
 * The first production model of each service: the gate compares a candidate with the naive baseline and with
 * production; with no production model yet, the demo promotes the candidate it trained even when it did not beat
 * the baseline on the short history, and says so. A later run (or the nightly retrain) goes through the gate.
 */
export async function promoteFirstModels(config: Config, kafka: KafkaClient, say: Say): Promise<string[]> {
  const sql = createSql(config.mysql.url);
  const registry = createModelRegistry(sql);
  const publisher = await kafkaModelPublisher(
    config,
    kafka,
    new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
  );
  try {
    const all = await registry.list();
    for (const service of [...new Set(all.map((m) => m.service))]) {
      const mine = all.filter((m) => m.service === service);
      if (mine.some((m) => m.status === 'production')) continue;
      const newest = mine[0]!;
      // Ensemble members go with their primary, never on their own.
      if (newest.metrics['member_of'] !== undefined) continue;
      const ensemble = newest.metrics['ensemble'] as
        { served?: boolean; members?: { service: string; version: string }[] } | undefined;
      if (ensemble?.served)
        for (const m of ensemble.members ?? [])
          await promoteAndPublish(registry, publisher, m.service, m.version);
      await promoteAndPublish(registry, publisher, service, newest.version);
      say(
        `  ${service}: no production model yet, so the demo promotes ${newest.version}` +
          `${ensemble?.served ? ' and its ensemble members' : ''} (${newest.notes ?? ''})`,
      );
    }
    return [
      ...new Set((await registry.list()).filter((m) => m.status === 'production').map((m) => m.service)),
    ];
  } finally {
    await publisher.close();
    await sql.end();
  }
}

/**
 * Deletes the topics of earlier runs named `<name>-<run>` (demo, bench): each run makes a namespace of its own, and
 * left alone they pile up on the broker, which keeps their logs, and every metadata request for all topics lists them
 * (kafkajs sends one for each new producer). Also their files under `<stack.dir>/<name>`. Topics of the namespace in
 * `config` stay; a run of the same name going on at the same time loses its own, so run one at a time.
 */
export async function dropPreviousRuns(
  admin: KafkaAdmin,
  config: Config,
  name: string,
  say: Say,
): Promise<void> {
  const mine = `${config.pipeline.groupId}.`;
  const old = (await admin.listTopics()).filter((t) => t.startsWith(`${name}-`) && !t.startsWith(mine));
  if (old.length === 0) return;
  await admin.deleteTopics(old).catch(() => undefined);
  say(`  deleted ${old.length} topics of earlier ${name} runs`);
  rmSync(join(config.stack.dir, name), { recursive: true, force: true });
}

export async function waitFor(cond: () => unknown, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new TagstreamError('INTERNAL', 'the pipeline did not load the new models in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
