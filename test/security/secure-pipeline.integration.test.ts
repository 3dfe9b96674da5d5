// Issue 13's end-to-end check: the same simulated input (1 store, 7 days, seed 42) through ingest → features →
// feature store → serving twice, once on the plain stack (PLAINTEXT Kafka, Redis and MariaDB as root) and once on
// the secure one: Kafka over SASL_SSL + SCRAM as `tagstream` under its ACLs, Redis over TLS as the ACL user
// `tagstream`, MariaDB over TLS (VERIFY_IDENTITY) as the pipeline user `tagstream`, models registered by `trainer`,
// the schema registry over HTTPS with basic auth (registry-proxy.ts in front of the stack's Apicurio). Every output
// of the two runs compares equal: the clean topics, class events, feature rows, dead letters, late records,
// ml_feature_store, id_transactions, id_item_master, the online store in Redis (src/dev/chaos/compare.ts), every
// prediction of the six services, and the alerts that fired. The secure run's logs (debug), errors and `/metrics`
// (scraped from the job and from serving while each runs) hold no password or key. Then the job itself refuses, with a coded error and nothing written: Redis without credentials,
// MariaDB without TLS. (The api user writing, and the other refusals, are in data.integration.test.ts.)
//
// Determinism: one partition per topic; window finals that do not depend on wall-clock time (grace above the
// simulator's lateness, no idleness); serving scores after the features are in (phase 2 reads the finished online
// store), one forecast per class event (collapseClassForecasts off); the models are fixed linear ones. The online
// store keeps no versions (featureStore.versions.features none): as of its events, scoring would read the stock
// levels and 7-day sums as each batch left them, and where batches and micro-batches fall differs between runs
// (docs/architecture.md; the first clean-clone run on 4905cb9 mismatched 108-1,441 predictions per service).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { predictionTopic } from '../../config/topics.ts';
import { SERVICES } from '../../pipelines/serving.ts';
import { startJob } from '../../src/app/job.ts';
import { chaosGroups } from '../../src/dev/chaos/run.ts';
import { compareSnapshots, readTopics, snapshot, type Output } from '../../src/dev/chaos/compare.ts';
import { demoConfig, pipelineGroups, waitCaughtUp } from '../../src/dev/demo/demo.ts';
import { inArrivalOrder } from '../../src/dev/sim/arrival.ts';
import { makeStores } from '../../src/dev/sim/catalogue.ts';
import { simulate, type StreamEvent } from '../../src/dev/sim/model.ts';
import { openKafkaSink, produce, toMessage } from '../../src/dev/sim/producer.ts';
import { secureRedisConfig } from '../../src/dev/stack/secure-data.ts';
import { isTagstreamError } from '../../src/errors.ts';
import { createKafka, type KafkaAdmin, type KafkaClient } from '../../src/io/kafka/client.ts';
import { migrate } from '../../src/io/mysql/migrate.ts';
import { createSql, withDatabase } from '../../src/io/mysql/pool.ts';
import { createUsers, DB_USERS } from '../../src/io/mysql/users.ts';
import { command, createRedisClient } from '../../src/io/redis/client.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import { exportOnnx } from '../../src/ml/onnx/export.ts';
import { kafkaModelPublisher, promoteAndPublish } from '../../src/ml/registry/publisher.ts';
import { createModelRegistry } from '../../src/ml/registry/registry.ts';
import type { Alert, Prediction } from '../../src/schemas/types.ts';
import { HINT, requireStack } from '../helpers/stack.ts';
import { registryProxy, type RegistryProxy } from './registry-proxy.ts';
import { rootUrl, secureConfig, stackSecrets, upSecure, type SecureStack } from './secure-stack.ts';

const ID = randomUUID().slice(0, 8);
const DAY = 86_400_000;
const DAYS = 7;
const SEED = 42;
const STORES = makeStores(1);
/** The simulated period ends at today 00:00 UTC: within validation's age limits whenever the test runs. */
const START = Math.floor(Date.now() / DAY) * DAY - DAYS * DAY;
const DATABASE = `tagstream_e2e_${ID}`;
const PREFIX = `ts:e2e-${ID}:`;
const REGISTRY_PASSWORD = randomBytes(18).toString('hex');

const t0 = Date.now();
const times: Record<string, number> = {};
const time = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    times[what] = Date.now() - started;
  }
};

/** The secure run's log lines (debug and up, every component and both Kafka clients) and errors. */
const secureLines: string[] = [];
const secureErrors: unknown[] = [];
const quiet = pino({ level: 'error' });

let stack: SecureStack;
let proxy: RegistryProxy;
let dir: string;
const events: StreamEvent[] = [];

beforeAll(async () => {
  const base = loadConfig();
  await requireStack(base).catch((e: unknown) => {
    throw new Error(`${(e as Error).message} (the plain run needs it; ${HINT})`);
  });
  await time('secure stack up', async () => {
    stack = await upSecure(['kafka', 'redis', 'mariadb'], (l) => secureLines.push(l));
  });
  console.log(
    `secure stack: ${stack.started.length ? `started ${stack.started.join(', ')}` : 'already up'} (${JSON.stringify(stack.timings)} ms)`,
  );
  dir = mkdtempSync(join(tmpdir(), 'tagstream-e2e-'));
  writeFileSync(join(dir, 'registry.password'), REGISTRY_PASSWORD, { mode: 0o600 });
  proxy = await registryProxy({
    target: base.schemaRegistry.url,
    certFile: stack.paths.serverCert,
    keyFile: stack.paths.serverKey,
    username: 'tagstream',
    password: REGISTRY_PASSWORD,
  });
  const sim = simulate({ stores: STORES.length, days: DAYS, seed: SEED, start: START });
  events.push(...inArrivalOrder(sim.events));
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
  console.log(
    `secure-pipeline.integration: ${Date.now() - t0} ms; ${Object.entries(times)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(', ')}`,
  );
});

/** A fixed linear model over columns the serving frames carry (online item and class features, the history). */
function linear(service: string, columns: string[], coefficients: number[], intercept: number): ModelSpec {
  return {
    service,
    algorithm: 'linear',
    preprocessing: {
      numeric: columns,
      impute: columns.map(() => 0),
      categorical: [],
      categories: [],
      offset: columns.map(() => 0),
      scale: columns.map(() => 1),
    },
    estimator: { kind: 'linear-regressor', coefficients, intercept },
  };
}

const MODELS: ModelSpec[] = [
  linear('maintenance', ['prior_rentals', 'usage_frequency_7d', 'repair_count'], [0.02, 0.05, 0.1], 0.05),
  linear('quality', ['quality_grade', 'repair_count', 'prior_damages'], [0.9, -0.1, -0.2], 0.3),
  linear('demand', ['units_lag_7', 'units_mean_7', 'rentals@1d'], [0.5, 0.4, 0.1], 0.2),
];

/** A run's config on its services: its own namespace (within the secure ACLs' `tagstream` prefixes), one partition. */
function runConfig(base: Config, run: string, mysqlUrl: string): Config {
  const c = demoConfig(base, `e2e${ID}${run}`, false, STORES, 'tagstream');
  return {
    ...c,
    kafka: { ...c.kafka, partitions: 1 },
    mysql: { url: mysqlUrl },
    redis: base.redis,
    schemaRegistry: base.schemaRegistry,
    windows: { ...c.windows, graceMs: 7 * 3_600_000, idleTimeoutMs: 24 * 3_600_000 },
    featureStore: {
      ...c.featureStore,
      redisPrefix: PREFIX,
      onlineOnlyWindows: [],
      offlineFeatures: 'all',
      onlineTtlSeconds: 30 * 86_400,
      // Latest values only: see Determinism above.
      versions: { ...c.featureStore.versions, features: 'none' },
    },
    serving: { ...c.serving, collapseClassForecasts: false },
    metrics: { ...c.metrics, port: 0 },
  };
}

interface RunResult {
  readonly outputs: Map<string, Output>;
  /** /metrics as Prometheus would have scraped it: from the streams job, then from serving, each before it stops. */
  readonly metrics: string[];
}

/** GET /metrics of a running job (served on a free port of config.metrics.host). */
async function scrapeMetrics(config: Config, port: number | undefined): Promise<string> {
  if (port === undefined) throw new Error('the job serves no /metrics');
  const host = config.metrics.host === '0.0.0.0' ? '127.0.0.1' : config.metrics.host;
  const res = await fetch(`http://${host}:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/**
 * One run: the models registered and promoted (as `trainer` where `trainerUrl` says), the input produced, then the
 * job's streams until every group has read everything, then serving until it has (each serving /metrics, scraped
 * once it has caught up); then every output read (`reader` overrides where tables and the online store are read from).
 */
async function run(
  name: string,
  config: Config,
  trainerUrl: string,
  reader: Partial<Pick<Config, 'mysql' | 'redis'>>,
  log: Logger,
): Promise<RunResult> {
  const kafka: KafkaClient = createKafka(config, log, `${config.kafka.clientId}-e2e`);
  const admin: KafkaAdmin = kafka.admin();
  const metrics: string[] = [];
  await admin.connect();
  try {
    await time(`${name}: models`, async () => {
      const sql = createSql(trainerUrl, { connectionLimit: 1 });
      const registry = createModelRegistry(sql);
      const publisher = await kafkaModelPublisher(
        config,
        kafka,
        new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
      );
      try {
        for (const spec of MODELS) {
          const { version } = await registry.register({
            service: spec.service,
            algorithm: 'linear',
            spec,
            onnx: exportOnnx(spec),
            metrics: { log_loss: 0.5 },
          });
          await promoteAndPublish(registry, publisher, spec.service, version);
        }
      } finally {
        await publisher.close();
        await sql.end();
      }
    });
    await time(`${name}: input`, async () => {
      const sink = await openKafkaSink(config, log);
      try {
        await produce(events, sink, (ev, now) => toMessage(ev, sink.topics, sink.encoders, now), {
          speed: { kind: 'max' },
        });
      } finally {
        await sink.close();
      }
    });
    await time(`${name}: ingest and features`, async () => {
      const job = await startJob(config, { streams: true, serving: false }, { log, serveMetrics: true });
      try {
        await Promise.race([
          waitCaughtUp(admin, chaosGroups(config), () => undefined, false, name),
          job.failure.then((e) => Promise.reject(e)),
        ]);
        metrics.push(await scrapeMetrics(config, job.metricsPort));
      } finally {
        await job.stop();
      }
    });
    await time(`${name}: serving`, async () => {
      // Serving as `npm run pipeline` runs it: through the job, with its /metrics (models, predictions, alerts).
      const job = await startJob(config, { streams: false, serving: true }, { log, serveMetrics: true });
      try {
        const group = pipelineGroups(config).find((g) => g.group.endsWith(config.serving.groupSuffix))!;
        await Promise.race([
          waitCaughtUp(admin, [group], () => undefined, false, name),
          job.failure.then((e) => Promise.reject(e)),
        ]);
        metrics.push(await scrapeMetrics(config, job.metricsPort));
      } finally {
        await job.stop();
      }
    });
    return await time(`${name}: read outputs`, async () => {
      const readConfig: Config = { ...config, ...reader };
      const { snapshot: s } = await snapshot(readConfig, kafka, admin);
      const outputs = new Map(s.outputs);
      for (const [n, out] of await predictionsAndAlerts(config, kafka, admin)) outputs.set(n, out);
      return { outputs, metrics };
    });
  } finally {
    await admin.disconnect();
  }
}

/** predictions.<service> and alerts, decoded; processing-time fields and model versions (time-stamped) left out. */
async function predictionsAndAlerts(
  config: Config,
  kafka: KafkaClient,
  admin: KafkaAdmin,
): Promise<Map<string, Output>> {
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const topics = [...SERVICES.map((s) => predictionTopic(config.topics, s)), config.topics.alerts];
  const raw = await readTopics(kafka, admin, topics);
  const out = new Map<string, Output>();
  const add = (o: Output, id: string, value: string) => o.set(id, [...(o.get(id) ?? []), value]);
  for (const service of SERVICES) {
    const o: Output = new Map();
    for (const r of raw.get(predictionTopic(config.topics, service)) ?? []) {
      const p = (await serde.decode(r.value)) as Prediction;
      add(
        o,
        `${p.entity_id}|${Number(p.event_time)}|${p.horizon ?? ''}`,
        JSON.stringify({
          prediction: p.prediction,
          lower: p.lower,
          upper: p.upper,
          models: p.model_versions.length,
          snapshot: Number(p.feature_snapshot_at),
          details: p.details,
        }),
      );
    }
    out.set(`topic predictions.${service}`, o);
  }
  // Alerts as the set of (rule, entity, severity) that fired: which firing of a run of alerts survives the
  // event-time throttle depends on the order predictions reach the rule, and the serving flow's predictions come
  // from several input topics whose interleaving no two runs share (plain or secure alike).
  const alerts: Output = new Map();
  for (const r of raw.get(config.topics.alerts) ?? []) {
    const a = (await serde.decode(r.value)) as Alert;
    alerts.set(`${a.rule}|${a.entity_id}|${a.severity}`, ['fired']);
  }
  out.set('topic alerts', alerts);
  return out;
}

const count = (o: Output | undefined): number => [...(o?.values() ?? [])].reduce((n, v) => n + v.length, 0);

let plain: RunResult;
let secure: RunResult;
let secureConfigUsed: Config;

describe('the pipeline on the secure stack', () => {
  it('plain run: the reference', async () => {
    const base = loadConfig();
    const url = withDatabase(base.mysql.url, DATABASE);
    await migrate(url);
    const config = runConfig(base, 'p', url);
    try {
      plain = await run('plain', config, url, {}, quiet);
    } finally {
      const sql = createSql(withDatabase(base.mysql.url, ''), { connectionLimit: 1 });
      await sql.execute(`DROP DATABASE IF EXISTS \`${DATABASE}\``).catch(() => undefined);
      await sql.end();
    }
    const rows = count(plain.outputs.get('topic features.realtime'));
    const predictions = SERVICES.map((s) => count(plain.outputs.get(`topic predictions.${s}`)));
    console.log(`plain run: ${rows} realtime feature values, predictions ${JSON.stringify(predictions)}`);
    expect(rows).toBeGreaterThan(1_000);
    for (const s of ['demand', 'maintenance', 'quality'])
      expect(count(plain.outputs.get(`topic predictions.${s}`)), s).toBeGreaterThan(0);
  }, 300_000);

  it('secure run: SASL_SSL + SCRAM with ACLs, Redis over TLS as an ACL user, MariaDB over TLS as the pipeline user; the same outputs', async () => {
    const paths = stack.paths;
    // The run's database, migrated by root; the users granted on it as `stack up --secure` does for `tagstream`.
    await migrate(rootUrl(paths, DATABASE));
    await createUsers(
      rootUrl(paths, DATABASE),
      DATABASE,
      Object.fromEntries(DB_USERS.map((u) => [u, readFileSync(paths.mariadbPasswordFile(u), 'utf8').trim()])),
    );
    const base = secureConfig(
      paths,
      { kafka: 'tagstream', redis: 'tagstream', mysql: 'tagstream', database: DATABASE },
      {
        schemaRegistry: {
          url: proxy.url,
          username: 'tagstream',
          passwordFile: join(dir, 'registry.password'),
          tls: { caFile: paths.caFile },
        },
      },
    );
    const config = runConfig(base, 's', base.mysql.url);
    secureConfigUsed = config;
    const trainer = secureConfig(paths, { mysql: 'trainer', database: DATABASE }).mysql.url;
    // What the comparison reads with: tables as the read-only api user, the online store as admin (SCAN).
    const reader = {
      mysql: secureConfig(paths, { mysql: 'api', database: DATABASE }).mysql,
      redis: parseConfig({ redis: secureRedisConfig(paths, 'admin') }).redis,
    };
    const log = pino({ level: 'debug' }, { write: (line: string) => void secureLines.push(line) });
    try {
      secure = await run('secure', config, trainer, reader, log);
    } catch (e) {
      secureErrors.push(e);
      throw e;
    }
    const diffs = compareSnapshots(
      { outputs: plain.outputs, excluded: new Map() },
      {
        outputs: secure.outputs,
        excluded: new Map(),
      },
    );
    for (const d of diffs)
      console.log(
        `  ${d.output.padEnd(34)} plain ${String(d.reference).padStart(7)}  secure ${String(d.actual).padStart(7)}  ` +
          `lost ${d.lost} duplicated ${d.duplicated} mismatched ${d.mismatched}${d.examples.length ? `\n      ${d.examples.join('\n      ')}` : ''}`,
      );
    expect(diffs.length).toBeGreaterThanOrEqual(15);
    expect(diffs.filter((d) => d.lost + d.duplicated + d.mismatched > 0).map((d) => d.output)).toEqual([]);
    // The proxy saw the registry calls of the secure run, every one logged in.
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.filter((r) => r.status === 401)).toEqual([]);
  }, 400_000);

  it('the secure run logged no password, token or key (debug level), and none is in an error or its /metrics', () => {
    const secrets = [...stackSecrets(stack.paths), REGISTRY_PASSWORD];
    expect(secrets.length).toBeGreaterThanOrEqual(12);
    expect(secureLines.length).toBeGreaterThan(30);
    // What was scraped is the real exposition of both parts: records through the stages, predictions per service.
    const scraped = secure?.metrics ?? [];
    expect(scraped).toHaveLength(2);
    const [streams = '', serving = ''] = scraped;
    expect(streams).toMatch(/^tagstream_records_in_total\{.*\} [1-9]/m);
    expect(serving).toMatch(/^tagstream_predictions_total\{.*\} [1-9]/m);
    const texts = [
      ...secureLines,
      ...scraped.flatMap((m) => m.split('\n')),
      ...secureErrors.flatMap((e) => [String(e), String((e as Error).stack), JSON.stringify(e)]),
    ];
    for (const secret of secrets)
      expect(texts.filter((t) => t.includes(secret)).length, 'lines with a secret').toBe(0);
  });
});

describe('the pipeline refuses, with a coded error and nothing written', () => {
  /** The secure run's config with `change`, on groups and keys of its own (the input is the secure run's). */
  function variant(name: string, change: (c: Config) => Partial<Config>): Config {
    const c = secureConfigUsed;
    return {
      ...c,
      pipeline: { ...c.pipeline, groupId: `${c.pipeline.groupId}-${name}` },
      featureStore: { ...c.featureStore, redisPrefix: `${PREFIX}${name}:` },
      ...change(c),
    };
  }

  it('Redis without credentials: REDIS_AUTH_FAILED as the job starts, no key written', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const config = variant('nocreds', (c) => ({
      redis: { url: c.redis.url.replace(/\/\/[^@]*@/, '//') },
    }));
    const job = await time('refusal: redis', () =>
      startJob(config, { streams: true, serving: false }, { log, serveMetrics: false }),
    );
    try {
      // The job checks the online store as it starts (its marker key): the refusal is logged with its code.
      const deadline = Date.now() + 30_000;
      while (!lines.some((l) => l.includes('"code":"REDIS_AUTH_FAILED"')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    } finally {
      await job.stop();
    }
    secureLines.push(...lines);
    const refusal = lines.find((l) => l.includes('"code":"REDIS_AUTH_FAILED"'));
    expect(refusal, lines.slice(-5).join('\n')).toBeDefined();
    expect(refusal).toContain('NOAUTH');
    const admin = createRedisClient(
      parseConfig({ redis: secureRedisConfig(stack.paths, 'admin') }).redis.url,
    );
    const [[, keys]] = (await admin.pipeline([
      command('scan', 0, 'MATCH', `${PREFIX}nocreds:*`, 'COUNT', 10_000),
    ])) as [[string, string[]]];
    await admin.close();
    expect(keys).toEqual([]);
  }, 120_000);

  it('MariaDB without TLS: the job does not start (MYSQL_AUTH_FAILED, saying TLS may be required)', async () => {
    const config = variant('plaintext', (c) => ({ mysql: { url: c.mysql.url.replace(/\?.*$/, '') } }));
    let error: unknown;
    await time('refusal: mariadb plaintext', () =>
      startJob(config, { streams: true, serving: false }, { log: quiet, serveMetrics: false }).then(
        (job) => job.stop(),
        (e: unknown) => void (error = e),
      ),
    );
    secureErrors.push(error);
    expect(isTagstreamError(error) && error.code).toBe('MYSQL_AUTH_FAILED');
    expect((error as Error).message).toContain('unencrypted connection');
    const root = createSql(rootUrl(stack.paths, DATABASE), { connectionLimit: 1 });
    try {
      await root.execute(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
    } finally {
      await root.end();
    }
  }, 120_000);
});
