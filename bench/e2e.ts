// `npm run bench:e2e`: the whole job end to end on the local stack, against Kafka's own consumer as a ceiling.
//  1. warm-up: a first stretch of simulated history through the job, the collectors, training and promotion, so
//     that serving runs with trained models (as the demo does);
//  2. throughput: the main history is produced to Kafka while the job is down, then the job (ingest, features,
//     windows, feature-store and history sink nodes, serving with the models, alert rules) starts and is timed until
//     every consumer group's lag is 0. Printed: source events/s; Kafka log entries written per source event (every
//     topic of the namespace, changelogs included; offsets, so transaction markers count too); MariaDB rows per
//     source event; the peak RSS of the job (`npm run pipeline -- --api`, in a process of its own, or two with
//     `--job-roles`); Kafka's
//     ConsumerPerformance on the same source topic (kafka-tools from Maven Central) and our ratio to it;
//  3. latency: the days after it at 50% of the measured capacity, evenly paced (the simulated day's own shape would
//     put its opening hours above capacity) and sent in batches of what 5 ms brings (the Java producer's default
//     linger.ms); for each `out` scan, the time from the
//     broker's append of the scan to the broker's append of its maintenance prediction (the source, clean-scan and
//     maintenance topics of the bench use LogAppendTime, so that the broker stamps all three and a pause of the
//     bench's own process cannot count): p50 and p99, and how much of it ingest took (until the scan's clean record
//     was appended) and how much serving.
// The last line is the summary the issue asks for. The run gets its own namespaces (bench-<run> and bench-<run>w)
// and database (tagstream_bench, made anew); it deletes the topics and files of earlier runs first, as the demo does.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { cleanTopic, predictionTopic } from '../config/topics.ts';
import { startJob, type RunningJob } from '../src/app/job.ts';
import { int } from '../src/cli/args.ts';
import {
  demoConfig,
  demoTraining,
  dropPreviousRuns,
  pipelineGroups,
  promoteFirstModels,
  runCollectors,
  waitCaughtUp,
} from '../src/dev/demo/demo.ts';
import { inArrivalOrder, stretches } from '../src/dev/sim/arrival.ts';
import { makeStores } from '../src/dev/sim/catalogue.ts';
import { simulate, type StreamEvent } from '../src/dev/sim/model.ts';
import { SimFiles } from '../src/dev/sim/output.ts';
import { openKafkaSink, produce, toMessage } from '../src/dev/sim/producer.ts';
import { runMaven } from '../src/dev/stack/java.ts';
import { stackUp } from '../src/dev/stack/manager.ts';
import { stackPaths } from '../src/dev/stack/services.ts';
import { createKafka, ensureTopicsWith, type KafkaAdmin, type KafkaClient } from '../src/io/kafka/client.ts';
import { createSql, splitDatabase } from '../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../src/io/registry/registry.ts';
import { createLogger } from '../src/log.ts';
import { trainWithConfig } from '../src/ml/train/run.ts';
import type { Prediction, RfidScan } from '../src/schemas/types.ts';
import { ensureJobBundle, jobArgs } from '../src/dev/bundle.ts';

const DAY_MS = 86_400_000;

const opts = new Command('bench:e2e')
  .description(
    'End-to-end throughput, amplification, latency and memory of the whole job (see the file header)',
  )
  .addOption(
    new Option('--quick', 'a small run: 2 stores, 14 + 30 days, 15 s of latency phase (about 2 minutes)'),
  )
  .addOption(new Option('--stores <n>', 'stores simulated (default 3)').argParser(int(1)))
  .addOption(new Option('--days <n>', 'days of history in the timed phase (default 90)').argParser(int(1)))
  .addOption(new Option('--warmup-days <n>', 'days before it, to train on (default 30)').argParser(int(30)))
  .addOption(new Option('--latency-seconds <n>', 'length of the paced phase (default 60)').argParser(int(5)))
  .addOption(
    new Option(
      '--latency-days <n>',
      'days simulated after the timed ones for the paced phase to draw on (default 30; --quick 7)',
    ).argParser(int(1)),
  )
  .addOption(
    new Option(
      '--latency-rate <events/s>',
      'pace of the latency phase instead of 50% of the measured capacity (to compare runs at the same load)',
    ).argParser(int(1)),
  )
  .addOption(new Option('--seed <n>', 'simulator seed').default(42).argParser(int(0)))
  .addOption(
    new Option('--job-cpu-prof <dir>', "write the job process's CPU profile (--cpu-prof) into <dir>"),
  )
  .addOption(
    new Option('--job-heap <MiB>', "the job process's V8 old-space limit (--max-old-space-size)").argParser(
      int(64),
    ),
  )
  .addOption(
    new Option(
      '--job-roles <roles>',
      'one: the timed job as one process; split: a `--role streams` and a `--role serving` process; two: two ' +
        'instances of the whole job, sharing the partitions (split and two use two cores)',
    )
      .choices(['one', 'split', 'two'])
      .default('one'),
  )
  .parse()
  .opts<{
    jobRoles: 'one' | 'split' | 'two';
    quick?: boolean;
    stores?: number;
    days?: number;
    warmupDays?: number;
    latencySeconds?: number;
    latencyDays?: number;
    latencyRate?: number;
    seed: number;
    jobHeap?: number;
    jobCpuProf?: string;
  }>();

const quick = opts.quick === true;
const stores = opts.stores ?? (quick ? 2 : 3);
const days = opts.days ?? (quick ? 14 : 90);
const warmupDays = opts.warmupDays ?? 30;
/** The paced phase's producer linger: the Java producer's default linger.ms since Kafka 4.0. */
const PACED_LINGER_MS = 5;
const latencySeconds = opts.latencySeconds ?? (quick ? 15 : 60);
const latencyDays = opts.latencyDays ?? (quick ? 7 : 30);
const say = (line: string): void => console.log(line);
const log = createLogger('bench-e2e', {
  level: process.env['LOG_LEVEL'] ?? 'warn',
  file: join('.stack', 'logs', `bench-e2e-${Date.now()}.log`),
});
const base = loadConfig();
const run = new Date()
  .toISOString()
  .replace(/[-:TZ.]/g, '')
  .slice(2, 14);
const config: Config = demoConfig(base, run, quick, makeStores(stores), 'bench');
// The warm-up runs in a namespace of its own (same database, so the models it trains are in the registry the timed
// job loads): the timed job starts from empty state, as after a fresh deployment, not from a restore.
const warm: Config = demoConfig(base, `${run}w`, quick, makeStores(stores), 'bench');

/** The log end offsets of every topic of the namespace, summed over partitions, per topic. */
async function logEntries(admin: KafkaAdmin): Promise<Map<string, number>> {
  const mine = (await admin.listTopics()).filter(
    (t) => t.startsWith(`${config.topics.namespace}.`) || t.startsWith(`${config.pipeline.groupId}-`),
  );
  const out = new Map<string, number>();
  for (const t of mine)
    for (const p of await admin.topicOffsets(t)) out.set(t, (out.get(t) ?? 0) + Number(p.high));
  return out;
}

const total = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

async function dbRows(): Promise<number> {
  const sql = createSql(config.mysql.url);
  try {
    let n = 0;
    for (const table of ['ml_feature_store', 'id_transactions', 'id_item_master']) {
      const [row] = await sql.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`);
      n += Number(row?.n ?? 0);
    }
    return n;
  } finally {
    await sql.end();
  }
}

/** Kafka's own consumer (kafka-tools ConsumerPerformance) reading `topic` from its start: records/s. */
function consumerPerformance(topic: string, records: number): number {
  const { cacheDir } = stackPaths(config);
  const version = config.stack.kafkaVersion;
  const libs = join(cacheDir, `kafka-${version}`, 'libs');
  const tools = join(cacheDir, `kafka-tools-${version}`);
  if (!existsSync(join(tools, `kafka-tools-${version}.jar`))) {
    mkdirSync(tools, { recursive: true });
    say(`  fetching org.apache.kafka:kafka-tools:${version} from Maven Central`);
    runMaven(
      ['dependency:copy', `-Dartifact=org.apache.kafka:kafka-tools:${version}`, `-DoutputDirectory=${tools}`],
      tools,
      join(tools, 'maven.log'),
      'kafka-tools',
    );
  }
  const cp = [join(tools, `kafka-tools-${version}.jar`), ...readdirSync(libs).map((f) => join(libs, f))].join(
    ':',
  );
  const r = spawnSync(
    'java',
    [
      '-Xmx512m',
      '-cp',
      cp,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      config.kafka.brokers.join(','),
      '--topic',
      topic,
      '--messages',
      String(records),
      '--timeout',
      '60000',
    ],
    { encoding: 'utf8' },
  );
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const rate = Number(line.split(',')[5]);
  if (r.status !== 0 || !Number.isFinite(rate))
    throw new Error(
      `ConsumerPerformance failed (exit ${r.status}): ${r.stderr.slice(-500)}${r.stdout.slice(-300)}`,
    );
  return rate;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  say(
    `bench:e2e ${stores} stores, ${warmupDays} warm-up + ${days} timed days, namespace ${config.topics.namespace}`,
  );
  await stackUp(base, (line) => log.info(line));
  const kafka: KafkaClient = createKafka(config, log);
  const admin = kafka.admin();
  await admin.connect();
  await dropPreviousRuns(admin, config, 'bench', say);
  const server = createSql(splitDatabase(config.mysql.url).serverUrl);
  await server.execute('DROP DATABASE IF EXISTS `tagstream_bench`');
  await server.end();
  // The broker stamps the source records with their append time, and the clean scans and maintenance predictions
  // with theirs: the latency phase measures between those stamps. (No stage reads a record's timestamp for event
  // time from these topics: windows and scoring take it from the value.)
  await ensureTopicsWith(kafka, config, [config.topics.scans, config.topics.transactions], {
    config: { 'retention.ms': '-1', 'message.timestamp.type': 'LogAppendTime' },
  });
  await ensureTopicsWith(
    kafka,
    config,
    [cleanTopic(config.topics, config.topics.scans), predictionTopic(config.topics, 'maintenance')],
    { config: { 'message.timestamp.type': 'LogAppendTime' } },
  );

  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const start = today - (warmupDays + days + latencyDays) * DAY_MS;
  const warmupEnd = start + warmupDays * DAY_MS;
  const timedEnd = warmupEnd + days * DAY_MS;
  const sim = simulate({ stores, days: warmupDays + days + latencyDays, seed: opts.seed, start });
  const dir = join(config.stack.dir, 'bench', run);
  const files = new SimFiles(dir);
  files.writeExternal(sim);
  const events = inArrivalOrder(sim.events, (ev) => files.record(ev));
  // Arrival order, in stretches: everything before one time, then up to the next.
  const until = stretches(events);
  const warmSink = await openKafkaSink(warm, log);
  const sink = await openKafkaSink(config, log);
  const encoder = (to: typeof sink) => (ev: StreamEvent, now: number) =>
    toMessage(ev, to.topics, to.encoders, now);
  const encode = encoder(sink);
  const groups = pipelineGroups(config);
  let job: RunningJob | undefined;
  let timed: JobProcess | undefined;
  try {
    // 1. Warm-up and training.
    say(`[1/3] warm-up: ${warmupDays} days through the job, collectors, training, promotion`);
    await produce(until(warmupEnd), warmSink, encoder(warmSink), { speed: { kind: 'max' } });
    await warmSink.close();
    job = await startJob(warm, { streams: true, serving: true, api: {} }, { log, serveMetrics: false });
    for (const c of [warm, config])
      await runCollectors(c, dir, Math.floor(start / DAY_MS), Math.floor(today / DAY_MS) + 7, log, (l) =>
        log.info(l),
      );
    await waitCaughtUp(admin, pipelineGroups(warm), () => undefined, false, 'warm-up');
    await trainWithConfig(warm, demoTraining(true, warmupDays), { log, progress: (l) => log.debug(l) });
    const production = await promoteFirstModels(warm, kafka, (l) => log.info(l));
    say(`  trained and promoted ${production.join(', ')}`);
    await job.stop();
    job = undefined;

    // 2. Throughput: the main history waits in Kafka, then the job is timed until every group is caught up.
    await ensureJobBundle();
    const sent = await produce(until(timedEnd), sink, encode, { speed: { kind: 'max' } });
    const sources = sent.sent;
    say(`[2/3] throughput: ${sources.toLocaleString('en-US')} source records produced; starting the job`);
    const entriesBefore = await logEntries(admin);
    const rowsBefore = await dbRows();
    const t0 = performance.now();
    timed = startJobProcess(config, run);
    const waited = await Promise.race([
      waitCaughtUp(admin, groups, say, process.stdout.isTTY === true, 'e2e'),
      timed.exited,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const peakRss = timed.peakRssBytes();
    const rate = sources / seconds;
    const entriesAfter = await logEntries(admin);
    const perEvent = (total(entriesAfter) - total(entriesBefore)) / sources;
    const rowsPerEvent = ((await dbRows()) - rowsBefore) / sources;
    say(
      `  ${sources.toLocaleString('en-US')} source events in ${seconds.toFixed(1)} s: ${rate.toFixed(0)} events/s`,
    );
    say(
      `  kafka log entries per source event ${perEvent.toFixed(2)}, db rows per source event ${rowsPerEvent.toFixed(2)}`,
    );
    // Which topics they are in (transaction markers included: a log entry is a record or a marker).
    const byTopic = [...entriesAfter]
      .map(([t, n]) => [t, (n - (entriesBefore.get(t) ?? 0)) / sources] as const)
      .filter(([, n]) => n >= 0.005)
      .sort((a, b) => b[1] - a[1]);
    say(
      `  per topic: ${byTopic.map(([t, n]) => `${t.replace(`${config.topics.namespace}.`, '').replace(`${config.pipeline.groupId}-`, '')} ${n.toFixed(2)}`).join(', ')}`,
    );
    const allWaited = [...waited.values()].reduce((a, b) => a + b, 0);
    if (allWaited > 0)
      say(
        '  where the backlog waited (lag summed over 1 s samples): ' +
          [...waited]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 4)
            .map(([g, w]) => `${g} ${((100 * w) / allWaited).toFixed(0)}%`)
            .join(', '),
      );
    const scanRecords = (await admin.topicOffsets(config.topics.scans)).reduce(
      (n, p) => n + Number(p.high),
      0,
    );
    const ceiling = consumerPerformance(config.topics.scans, scanRecords);
    say(
      `  Kafka ConsumerPerformance on ${config.topics.scans}: ${ceiling.toFixed(0)} records/s; ours is ` +
        `${((rate / ceiling) * 100).toFixed(1)}% of it`,
    );

    // 3. Latency at half the measured capacity (or the pace asked for).
    const target = opts.latencyRate ?? rate / 2;
    say(
      `[3/3] latency: the next ${latencyDays} days at an even ${target.toFixed(0)} events/s for up to ${latencySeconds} s`,
    );
    // Broker append times of each `out` scan's source record, clean record and maintenance prediction (by tag and
    // scan time), paired up once the phase is over: the reader may see the three in any order.
    const appended = new Map<string, number>();
    const cleanAt = new Map<string, number>();
    const predictedAt = new Map<string, number>();
    const cleanScans = cleanTopic(config.topics, config.topics.scans);
    // The times are the broker's, so reading late changes nothing: the reader fetches a few times a second, not after
    // every append, and keeps its load off the box it measures.
    const reader = kafka.consumer({
      groupId: `${config.pipeline.groupId}-latency-${run}`,
      maxWaitMs: 500,
      minBytes: 1 << 20,
    });
    const predTopic = predictionTopic(config.topics, 'maintenance');
    const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
    const phaseStart = Date.now();
    await reader.connect();
    // From the beginning, records appended before the phase skipped: a reader that started at the log end would miss
    // whatever came before it joined the group (the broker delays a new group's first assignment by seconds).
    await reader.subscribe([config.topics.scans, cleanScans, predTopic], { fromBeginning: true });
    let lastRead = Date.now();
    await reader.run({
      eachBatch: async (batch) => {
        lastRead = Date.now();
        for (const r of batch.records) {
          // LogAppendTime on all three topics: the record's timestamp is when the broker appended it.
          if (r.timestamp < phaseStart) continue;
          if (batch.topic === predTopic) {
            const p = (await serde.decode(r.value)) as Prediction;
            predictedAt.set(`${p.entity_id}|${p.event_time}`, r.timestamp);
            continue;
          }
          // The source topic has the simulator's garbled reads too (raw bytes): skipped, as ingest dead-letters them.
          const scan = (await serde.decode(r.value).catch(() => null)) as RfidScan | null;
          if (scan === null) continue;
          (batch.topic === cleanScans ? cleanAt : appended).set(
            `${scan.tag_id}|${scan.scan_date}`,
            r.timestamp,
          );
        }
      },
    });
    await new Promise((r) => setTimeout(r, 3_000)); // the reader joins before the paced records start
    const deadline = Date.now() + latencySeconds * 1000;
    const paced = (function* () {
      for (const ev of until(today)) {
        if (Date.now() > deadline) return;
        yield ev;
      }
    })();
    // Sent as a Java producer with its default linger.ms (5 ms) would send them, not one request per record: the
    // latency counts from the broker's append, so the linger is not in it, and the bench's requests load the box less.
    const pacedStats = await produce(paced, sink, encode, {
      speed: { kind: 'rate', perSecond: target },
      lingerMs: PACED_LINGER_MS,
    });
    say(
      `  ${pacedStats.sent.toLocaleString('en-US')} events in ${(pacedStats.elapsedMs / 1000).toFixed(1)} s: ` +
        `${pacedStats.perSecond.toFixed(0)} events/s`,
    );
    await Promise.race([waitCaughtUp(admin, groups, () => undefined, false, 'latency'), timed.exited]);
    // Until the reader has read everything: nothing new for 2 s.
    while (Date.now() - lastRead < 2_000) await new Promise((r) => setTimeout(r, 250));
    await reader.disconnect();
    const latencies: number[] = [];
    const toClean: number[] = [];
    const fromClean: number[] = [];
    for (const [key, predicted] of predictedAt) {
      const at = appended.get(key);
      if (at === undefined) continue;
      latencies.push(predicted - at);
      const clean = cleanAt.get(key);
      if (clean === undefined) continue;
      toClean.push(clean - at);
      fromClean.push(predicted - clean);
    }
    /** `p50 … ms, p99 … ms` of a sample (sorted in place). */
    const spread = (xs: number[]): string => {
      xs.sort((a, b) => a - b);
      return `p50 ${percentile(xs, 50).toFixed(0)} ms, p99 ${percentile(xs, 99).toFixed(0)} ms`;
    };
    say(
      `  ${latencies.length} scans scored: ${spread(latencies)} ` +
        `(read: ${appended.size} scans, ${cleanAt.size} clean scans, ${predictedAt.size} maintenance predictions)`,
    );
    const p99 = percentile(latencies, 99);
    if (toClean.length > 0 && fromClean.length > 0)
      say(
        `  of which source append to its clean record's append (ingest): ${spread(toClean)}; ` +
          `from there to its prediction's append (serving): ${spread(fromClean)}`,
      );
    say(
      `e2e: ${rate.toFixed(0)} events/s, ${perEvent.toFixed(2)} kafka records/event, ${rowsPerEvent.toFixed(2)} db rows/event, ` +
        `p99 ${p99.toFixed(0)} ms at ${opts.latencyRate === undefined ? '50% load' : `${target} events/s`}, rss ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    await job?.stop().catch(() => undefined);
    await timed?.stop().catch(() => undefined);
    await sink.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

interface JobProcess {
  /** Rejects if a process of the job exits before it is stopped. */
  readonly exited: Promise<never>;
  /** The job's peak resident set so far: its process's VmHWM, or the peak of its processes' summed VmRSS. */
  peakRssBytes(): number;
  stop(): Promise<void>;
}

/**
 * The timed job as `npm run pipeline -- --api` in a process of its own (or, with `--job-roles`, two: one
 * `--role streams --api` and one `--role serving`, or two instances of the whole job), with this run's configuration,
 * so that its memory is its own: the warm-up's job and training ran in this process. Its log goes to .stack/logs.
 */
function startJobProcess(config: Config, run: string): JobProcess {
  const dir = join('.stack', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `e2e-${run}.json`);
  writeFileSync(file, JSON.stringify(config));
  const logFile = join('.stack', 'logs', `bench-e2e-job-${run}.log`);
  const out = openSync(logFile, 'a');
  const flags = [
    ...(opts.jobHeap === undefined ? [] : [`--max-old-space-size=${opts.jobHeap}`]),
    ...(opts.jobCpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.jobCpuProf}`]),
  ];
  // A second process serves /metrics on a free port: the first has the configured one.
  const second = { TAGSTREAM__metrics__port: '0' };
  const roles: { args: string[]; env: Record<string, string> }[] = {
    one: [{ args: ['--api'], env: {} }],
    split: [
      { args: ['--role', 'streams', '--api'], env: {} },
      { args: ['--role', 'serving'], env: second },
    ],
    two: [
      { args: ['--api'], env: {} },
      { args: [], env: second },
    ],
  }[opts.jobRoles];
  let stopping = false;
  const children = roles.map(({ args, env }) =>
    spawn(process.execPath, jobArgs(args, flags), {
      env: { ...process.env, ...env, TAGSTREAM_CONFIG: file, LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
      stdio: ['ignore', out, out],
    }),
  );
  let peak = 0;
  // One process: its own high-water mark; several: the peak of their summed resident sets, sampled.
  const field = children.length === 1 ? /VmHWM:\s+(\d+) kB/ : /VmRSS:\s+(\d+) kB/;
  const sample = (): void => {
    try {
      let sum = 0;
      for (const child of children) {
        const kb = field.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        sum += kb ? Number(kb[1]) * 1024 : 0;
      }
      peak = Math.max(peak, sum);
    } catch {
      // gone, or not Linux: the last sample stands
    }
  };
  const sampler = setInterval(sample, 500);
  const exited = Promise.race(
    children.map(
      (child) =>
        new Promise<never>((_, reject) =>
          child.once('exit', (code, signal) => {
            clearInterval(sampler);
            if (!stopping)
              reject(new Error(`the timed job exited (${signal ?? `code ${code}`}); its log is ${logFile}`));
          }),
        ),
    ),
  );
  exited.catch(() => undefined);
  return {
    exited,
    peakRssBytes: () => {
      sample();
      return peak;
    },
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await gone;
        }),
      );
    },
  };
}

try {
  await main();
  process.exit(0);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
