// `npm run chaos`: the simulator through the real pipeline, once uninterrupted (the reference) and once under seeded
// faults, on the same input; then every output of the two runs compared (see compare.ts).
//  1. services of the run's own (services.ts): Kafka, the registry, mariadbd, redis-server on free ports;
//  2. the simulated input (stores x days, seed), the same records into each run's own input topics;
//  3. reference: the input produced first, one instance reads it to the end, its outputs are read;
//  4. chaos: instances start, the input is produced while they run (paced over the fault phase), and the faults
//     of the schedule (schedule.ts) happen as it goes, one line each; then every group reads to the end;
//  5. the comparison, one line per output, and the summary line.
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../../config/schema.ts';
import { createKafka, type KafkaAdmin, type KafkaClient, type KafkaProducer } from '../../io/kafka/client.ts';
import { migrate } from '../../io/mysql/migrate.ts';
import { withDatabase } from '../../io/mysql/pool.ts';
import type { Logger } from '../../log.ts';
import { filledKey } from '../../store/online.ts';
import { demoConfig, pipelineGroups, waitCaughtUp } from '../demo/demo.ts';
import type { Say } from '../demo/view.ts';
import { makeStores } from '../sim/catalogue.ts';
import { simulate, type StreamEvent } from '../sim/model.ts';
import { inArrivalOrder, stretches } from '../sim/arrival.ts';
import { openKafkaSink, produce, toMessage, type KafkaSink, type MessageSink } from '../sim/producer.ts';
import { stackUp } from '../stack/manager.ts';
import { waitFor } from '../stack/process.ts';
import { command, createRedisClient } from '../../io/redis/client.ts';
import { compareSnapshots, snapshot, type Diff, type Snapshot } from './compare.ts';
import { Instances } from './instances.ts';
import { injectPoison } from './poison.ts';
import { schedule, type Fault } from './schedule.ts';
import { privateMariadb, privateRedis, privateStack, type DataService } from './services.ts';
import { ensureJobBundle } from '../bundle.ts';

const DAY_MS = 86_400_000;

export interface ChaosOptions {
  readonly seed: number;
  readonly stores: number;
  readonly days: number;
  /** Instances that run all along. */
  readonly instances: number;
  /** Instances that join and later leave. */
  readonly joins: number;
  readonly kills: number;
  /** Seconds of the fault phase. */
  readonly durationS: number;
  readonly outageS: number;
  readonly partitions: number;
  /** Keep the run's folder (Kafka and MariaDB data, logs). */
  readonly keep: boolean;
}

export interface ChaosResult {
  readonly faults: number;
  readonly scheduled: number;
  readonly diffs: Diff[];
  readonly lost: number;
  readonly duplicated: number;
  readonly mismatched: number;
  readonly peakRssMiB: number;
  readonly dir: string;
}

/** The consumer groups of the job without serving (not run here: its features are read at scoring time). */
export function chaosGroups(config: Config): ReturnType<typeof pipelineGroups> {
  const g = config.pipeline.groupId;
  return pipelineGroups(config).filter((x) => [g, `${g}-history`, `${g}-feature-store`].includes(x.group));
}

/** A run's namespace on the chaos services: deterministic window finals, every feature in the offline log. */
export function runConfig(
  services: Config,
  run: string,
  name: string,
  o: ChaosOptions,
  redisUrl: string,
): Config {
  const c = demoConfig(services, `${run}-${name}`, false, makeStores(o.stores), 'chaos');
  return {
    ...c,
    kafka: { ...c.kafka, partitions: o.partitions },
    mysql: { url: withDatabase(services.mysql.url, `tagstream_chaos_${name}`) },
    redis: { url: redisUrl },
    // Finals that do not depend on timing: grace above the simulator's worst lateness (6 h), no wall-clock idleness.
    windows: { ...c.windows, graceMs: 7 * 3_600_000, idleTimeoutMs: 24 * 3_600_000 },
    featureStore: {
      ...c.featureStore,
      onlineOnlyWindows: [],
      offlineFeatures: 'all',
      onlineTtlSeconds: 30 * 86_400,
    },
    serving: { ...c.serving, enabled: false },
    metrics: { ...c.metrics, port: 0 },
    log: { ...c.log, level: 'info', format: 'json', file: '' },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const fmt = (n: number): string => n.toLocaleString('en-US');

export async function runChaos(base: Config, o: ChaosOptions, say: Say, log: Logger): Promise<ChaosResult> {
  const t0 = performance.now();
  const secs = (): string => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
  const step = (text: string): void => say(`[${secs()}] ${text}`);
  const run = new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(2, 14);
  const dir = resolve(base.stack.dir, 'chaos', run);
  mkdirSync(dir, { recursive: true });
  step(`run ${run}: logs and data in ${dir}`);

  let mariadb: DataService | undefined;
  let redis: DataService | undefined;
  let stack: Awaited<ReturnType<typeof privateStack>> | undefined;
  let instances: Instances | undefined;
  let kafka: KafkaClient | undefined;
  let admin: KafkaAdmin | undefined;
  let sink: KafkaSink | undefined;
  let poisonProducer: KafkaProducer | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await instances?.stopAll().catch(() => undefined);
      await sink?.close().catch(() => undefined);
      await poisonProducer?.disconnect().catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
      const quiet = (line: string): void => log.info(line);
      await Promise.allSettled([
        stack?.registry.down(quiet),
        stack?.kafka.down(quiet),
        redis?.stop(),
        mariadb?.stop(),
      ]);
      if (!o.keep)
        for (const sub of ['kafka', 'registry', 'mariadb'])
          rmSync(join(dir, sub), { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: stopping the instances and the services this run started`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // 1. Services.
    step('services: Kafka, schema registry, MariaDB and Redis of this run, on free ports');
    stack = await privateStack(base, dir);
    const services = stack;
    const db = await privateMariadb(dir);
    mariadb = db;
    const cache = await privateRedis(dir);
    redis = cache;
    await Promise.all([
      stackUp(services.config, (l) => log.info(l), [services.kafka, services.registry]),
      db.start(),
      cache.start(),
    ]);
    const servicesConfig: Config = { ...services.config, mysql: { url: db.url } };
    say(
      `         kafka ${servicesConfig.kafka.brokers.join(',')}, registry ${servicesConfig.schemaRegistry.url}, ` +
        `mariadb ${db.url}, redis ${cache.url}`,
    );
    kafka = createKafka(servicesConfig, log, 'tagstream-chaos');
    admin = kafka.admin();
    await admin.connect();

    // 2. Input.
    const start = Math.floor(Date.now() / DAY_MS) * DAY_MS - o.days * DAY_MS;
    const sim = simulate({ stores: o.stores, days: o.days, seed: o.seed, start });
    const events: StreamEvent[] = [...inArrivalOrder(sim.events)];
    step(`input: ${o.stores} store(s) x ${o.days} days, seed ${o.seed}: ${fmt(events.length)} records`);

    // 3. Reference.
    const ref = runConfig(servicesConfig, run, 'ref', o, cache.url);
    await migrate(ref.mysql.url);
    step(`reference: namespace ${ref.topics.namespace}, one instance, input produced first`);
    sink = await openKafkaSink(ref, log);
    const refSink = sink;
    await produce(events, refSink, (ev, now) => toMessage(ev, refSink.topics, refSink.encoders, now), {
      speed: { kind: 'max' },
    });
    await refSink.close();
    sink = undefined;
    await ensureJobBundle();
    instances = new Instances(dir, 'ref', Instances.writeConfig(dir, 'ref', ref), say);
    instances.start();
    await waitCaughtUp(admin, chaosGroups(ref), (l) => say(`  ${l.trim()}`), false, 'reference');
    await instances.stopAll();
    instances = undefined;
    const reference: Snapshot = (await snapshot(ref, kafka, admin)).snapshot;
    step(
      `reference done: ${[...reference.outputs].map(([n, out]) => `${n.replace(/^(topic|table) /, '')} ${fmt(count(out))}`).join(', ')}`,
    );

    // 4. Chaos.
    const cfg = runConfig(servicesConfig, run, 'run', o, cache.url);
    await migrate(cfg.mysql.url);
    const faults = schedule({
      seed: o.seed,
      durationS: o.durationS,
      kills: o.kills,
      joins: o.joins,
      outageS: o.outageS,
    });
    step(
      `chaos: namespace ${cfg.topics.namespace}, ${o.instances} instance(s), ${faults.length} faults over ${o.durationS} s ` +
        `while the input is produced (seed ${o.seed})`,
    );
    sink = await openKafkaSink(cfg, log);
    const runSink = sink;
    const pool = new Instances(dir, 'run', Instances.writeConfig(dir, 'run', cfg), (l) => step(l));
    instances = pool;
    for (let i = 0; i < o.instances; i++) pool.start();
    // The input: what arrived before the simulated period (bookings made ahead) at once, then the period paced over
    // 80% of the fault phase. Sends wait while the broker restarts (the gate), so that the input is the reference's
    // to the record: a retried batch could be written twice, and the readers' producers are not under test.
    const gate = new Gate();
    const gated: MessageSink = {
      send: (batch) => gate.through(() => runSink.send(batch)),
    };
    let produced = 0;
    const until = stretches(events[Symbol.iterator]());
    const encode = (ev: StreamEvent, now: number) => toMessage(ev, runSink.topics, runSink.encoders, now);
    const producing = (async () => {
      const ahead = await produce(until(start), gated, encode, { speed: { kind: 'max' } });
      produced = ahead.sent;
      const paced = await produce(until(Infinity), gated, encode, {
        speed: { kind: 'factor', factor: (o.days * DAY_MS) / (0.8 * o.durationS * 1000) },
        batchSize: 200,
        progressEveryMs: 1_000,
        onProgress: (p) => (produced = ahead.sent + p.sent),
      });
      produced = ahead.sent + paced.sent;
      return produced;
    })();
    producing.catch(() => undefined);
    const share = (): string => `${((100 * produced) / events.length).toFixed(0)}% of the input sent`;

    const phase0 = performance.now();
    let done = 0;
    const background: Promise<void>[] = [];
    const report = (f: Fault, text: string): void => {
      done++;
      step(`fault ${String(done).padStart(3)}/${faults.length} (t+${f.at} s) ${f.kind.padEnd(8)} ${text}`);
    };
    const poisonWritten = new Map<string, number>();
    const outage = (svc: DataService, f: Fault): Promise<void> =>
      (async () => {
        const pid = await svc.kill();
        const at = share();
        await sleep((f.outageS ?? 60) * 1000);
        await svc.start();
        report(f, `${svc.name} killed (kill -9, pid ${pid}) at ${at}, down ${f.outageS} s, started again`);
      })();
    const restart = (
      svc: { name: string; down(l: Say): Promise<boolean>; up(l: Say): Promise<boolean> },
      f: Fault,
      pause?: Gate,
      resume?: () => Promise<void>,
    ) =>
      (async () => {
        await pause?.close();
        const at = share();
        const t = performance.now();
        await svc.down((l) => log.info(l));
        await svc.up((l) => log.info(l));
        await resume?.();
        pause?.open();
        report(
          f,
          `${svc.name} stopped at ${at} and back after ${((performance.now() - t) / 1000).toFixed(1)} s`,
        );
      })();

    for (const f of faults) {
      await sleep(phase0 + f.at * 1000 - performance.now());
      switch (f.kind) {
        case 'kill': {
          const ids = pool.ids();
          const id = ids[Math.floor((f.pick ?? 0) * ids.length)];
          if (id === undefined) {
            report(f, 'no instance running (all restarting): nothing to kill');
            break;
          }
          const pid = await pool.kill(id);
          const at = share();
          background.push(
            sleep((f.restartAfterS ?? 1) * 1000).then(() => {
              const next = pool.start();
              report(f, `instance #${id} (pid ${pid}) at ${at}; #${next} started ${f.restartAfterS} s later`);
            }),
          );
          break;
        }
        case 'join': {
          const id = pool.start();
          report(f, `instance #${id} joins at ${share()} (${pool.count} running)`);
          break;
        }
        case 'leave': {
          const what = pool.count > o.instances ? await pool.leave() : undefined;
          report(f, `${what ?? 'nothing to leave'} at ${share()} (${pool.count} running)`);
          break;
        }
        case 'broker':
          // The input's producer reconnects as a new producer, as a reader would: kafkajs' idempotent producer
          // could come back with its sequence numbers out of step with the restarted broker
          // (OUT_OF_ORDER_SEQUENCE_NUMBER, fatal), and nothing is in flight while the gate is closed.
          background.push(restart(services.kafka, f, gate, () => runSink.renew()));
          break;
        case 'registry':
          background.push(restart(services.registry, f));
          break;
        case 'redis':
          background.push(outage(cache, f));
          break;
        case 'mariadb':
          background.push(outage(db, f));
          break;
        case 'garbage': {
          background.push(
            (async () => {
              const topics = [...new Set(chaosGroups(cfg).flatMap((g) => [...g.topics, ...g.internal]))];
              await gate.through(async () => {
                poisonProducer ??= kafka!.producer({ retries: Infinity });
                await poisonProducer.connect();
                for (const [t, n] of await injectPoison(admin!, poisonProducer, topics))
                  poisonWritten.set(t, n);
              });
              const n = [...poisonWritten.values()].reduce((a, b) => a + b, 0);
              report(
                f,
                `${n} bad records (garbage, unknown schema id, oversized value and key) into ${poisonWritten.size} of ` +
                  `${topics.length} topics (the others not created yet) at ${share()}`,
              );
            })(),
          );
          break;
        }
      }
    }
    await Promise.all(background);
    const sent = await producing;
    step(`input: all ${fmt(sent)} records sent; waiting until every group has read everything`);
    await waitCaughtUp(admin, chaosGroups(cfg), (l) => say(`  ${l.trim()}`), false, 'chaos run');
    // Redis came back empty: the instances refill it from the offline log within featureStore.onlineCheckMs.
    const refilled = await waitFor(
      async () => {
        const r = createRedisClient(cfg.redis.url, { maxRetriesPerRequest: 1 });
        try {
          return (await r.pipeline([command('exists', filledKey(cfg.featureStore.redisPrefix))]))[0] === 1;
        } finally {
          await r.close();
        }
      },
      cfg.featureStore.onlineCheckMs * 2 + 60_000,
      1_000,
    );
    if (!refilled) step('warning: the online store was not refilled after the Redis outage');
    const peakRssMiB = pool.peakRssMiB();
    const unexpected = pool.unexpectedExits;
    await pool.stopAll();
    instances = undefined;
    const { snapshot: actual, poison } = await snapshot(cfg, kafka, admin);

    // 5. Comparison.
    const diffs = compareSnapshots(reference, actual);
    if (poisonWritten.size > 0) {
      // Each group that reads a topic dead-letters each bad record in it once.
      const readers = new Map<string, number>();
      for (const g of chaosGroups(cfg))
        for (const t of [...g.topics, ...g.internal]) readers.set(t, (readers.get(t) ?? 0) + 1);
      let expected = 0;
      for (const [t, n] of poisonWritten) expected += n * (readers.get(t) ?? 0);
      const seen = [...poison.deadLetters.values()].reduce((a, b) => a + b, 0);
      diffs.push({
        output: 'dead letters of the garbage',
        reference: expected,
        actual: seen,
        lost: Math.max(0, expected - seen),
        duplicated: Math.max(0, seen - expected),
        mismatched: 0,
        examples: [],
      });
    }
    step(`compared (${unexpected} instance exits by themselves, restarted by the supervisor):`);
    for (const d of diffs) {
      const left = actual.excluded.get(d.output);
      say(
        `  ${d.output.padEnd(34)} reference ${fmt(d.reference).padStart(9)}  run ${fmt(d.actual).padStart(9)}  ` +
          `lost ${d.lost}  duplicated ${d.duplicated}  mismatched ${d.mismatched}` +
          (left ? `  (left out: ${fmt(left)} sliding-7d/stock values)` : ''),
      );
      for (const e of d.examples) say(`      ${e}`);
    }
    const sum = (k: 'lost' | 'duplicated' | 'mismatched'): number => diffs.reduce((a, d) => a + d[k], 0);
    return {
      faults: done,
      scheduled: faults.length,
      diffs,
      lost: sum('lost'),
      duplicated: sum('duplicated'),
      mismatched: sum('mismatched'),
      peakRssMiB,
      dir,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    step('stopping the instances and the services this run started');
    await cleanup();
  }
}

const count = (out: Map<string, string[]>): number => [...out.values()].reduce((a, v) => a + v.length, 0);

/** Holds sends back while closed; `close` resolves once the sends in flight are done. */
class Gate {
  private closed: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private busy = 0;
  private idle: (() => void) | undefined;

  async through<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.busy++;
    try {
      return await fn();
    } finally {
      if (--this.busy === 0) this.idle?.();
    }
  }

  async close(): Promise<void> {
    this.closed = new Promise((r) => (this.release = r));
    if (this.busy > 0) await new Promise<void>((r) => (this.idle = r));
  }

  open(): void {
    this.closed = undefined;
    this.release?.();
  }
}
