// `npm run models -- list|show|promote|rollback`: the model registry (ml_models) from the command line. promote and
// rollback change the database in one transaction and then announce the new production model on models.versions,
// which every running pipeline instance follows to hot-swap it.
import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { TagstreamError } from '../errors.ts';
import { createKafka } from '../io/kafka/client.ts';
import { migrate } from '../io/mysql/migrate.ts';
import { createSql, type Sql } from '../io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import { loggerFor } from '../log.ts';
import {
  kafkaModelPublisher,
  promoteAndPublish,
  rollbackAndPublish,
  type ModelVersionPublisher,
} from '../ml/registry/publisher.ts';
import {
  createModelRegistry,
  type ModelMetrics,
  type ModelRegistry,
  type ModelSummary,
} from '../ml/registry/registry.ts';
import type { ModelVersion } from '../schemas/types.ts';
import { runCli } from './run.ts';
import { withLogOptions } from './args.ts';

const program = new Command('models')
  .description(
    'The model registry: list and show registered models, promote a version to production or roll back to the previous one. ' +
      'promote and rollback announce the new production model on models.versions; running pipelines swap it in within seconds. ' +
      'Uses MYSQL_URL, KAFKA_BROKERS and SCHEMA_REGISTRY_URL (or TAGSTREAM_CONFIG).',
  )
  .showHelpAfterError();

const say = (line: string): void => console.log(line);

/** Metrics shown in the list, in this order when present; otherwise the first numeric ones. */
const HEADLINE = ['mae', 'rmse', 'mape', 'r2', 'auc', 'logloss', 'brier', 'accuracy', 'f1'];

function keyMetrics(metrics: ModelMetrics, validationScore: number | null, max = 3): string {
  const numeric = Object.entries(metrics).filter(
    (e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]),
  );
  const byName = new Map(numeric.map(([k, v]) => [k.toLowerCase(), [k, v] as const]));
  const chosen = HEADLINE.flatMap((h) => (byName.has(h) ? [byName.get(h)!] : []));
  for (const e of numeric) if (!chosen.some(([k]) => k === e[0])) chosen.push(e);
  const parts = chosen.slice(0, max).map(([k, v]) => `${k}=${formatNumber(v)}`);
  if (validationScore !== null) parts.push(`score=${formatNumber(validationScore)}`);
  return parts.join(' ') || '-';
}

const formatNumber = (v: number): string => String(Number(v.toPrecision(4)));
const formatTime = (ms: number | null): string =>
  ms === null
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Opens the registry (applying pending migrations first, as `npm run pipeline` does) and closes it after. */
async function withRegistry<T>(
  config: Config,
  fn: (registry: ModelRegistry, sql: Sql) => Promise<T>,
): Promise<T> {
  await migrate(config.mysql.url);
  const sql = createSql(config.mysql.url, { connectionLimit: 2 });
  try {
    return await fn(createModelRegistry(sql), sql);
  } finally {
    await sql.end();
  }
}

/**
 * Connects the publisher before touching the database, so an unreachable Kafka or schema registry fails the command
 * before anything changed; then runs the change and its announcement.
 */
async function withPublisher<T>(
  config: Config,
  fn: (publisher: ModelVersionPublisher) => Promise<T>,
): Promise<T> {
  const log = loggerFor(config, 'models');
  const kafka = createKafka(config, log, `${config.kafka.clientId}-models-cli`);
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const publisher = await kafkaModelPublisher(config, kafka, serde);
  try {
    return await fn(publisher);
  } finally {
    await publisher.close().catch(() => undefined);
  }
}

function announced(record: ModelVersion, previous: string | null, topic: string): void {
  if (previous === record.version)
    say(`${record.service}: ${record.version} was already production; announced it again on ${topic}`);
  else
    say(
      `${record.service}: ${record.version} is production (promoted ${formatTime(record.promoted_at)})` +
        `${previous === null ? '' : `, ${previous} archived`}; announced on ${topic}`,
    );
}

program
  .command('list')
  .description(
    'list registered models, newest first: version, algorithm, status, key metrics, created, promoted',
  )
  .argument('[service]', 'only this service (demand, maintenance, quality, ...)')
  .action((service: string | undefined) =>
    runCli(async () => {
      const models = await withRegistry(loadConfig(), (r) => r.list(service));
      if (models.length === 0) {
        say(service === undefined ? 'no models registered' : `no models registered for ${service}`);
        return;
      }
      say(
        table(
          ['SERVICE', 'VERSION', 'ALGORITHM', 'STATUS', 'KEY METRICS', 'CREATED', 'PROMOTED'],
          models.map((m: ModelSummary) => [
            m.service,
            m.version,
            m.algorithm,
            m.status,
            keyMetrics(m.metrics, m.validationScore),
            formatTime(m.createdAt),
            formatTime(m.promotedAt),
          ]),
        ),
      );
    }),
  );

program
  .command('show')
  .description('show one model: status, times, checksum, metrics and input features')
  .argument('<service>', 'service name')
  .argument('<version>', 'version, as `list` prints it')
  .action((service: string, version: string) =>
    runCli(async () => {
      const m = await withRegistry(loadConfig(), (r) => r.get(service, version));
      if (m === undefined) throw notFound(service, version);
      say(`service           ${m.service}`);
      say(`version           ${m.version}`);
      say(`algorithm         ${m.algorithm} (${m.spec.estimator.kind})`);
      say(`status            ${m.status}`);
      say(`created           ${formatTime(m.createdAt)}`);
      say(`promoted          ${formatTime(m.promotedAt)}`);
      say(`validation score  ${m.validationScore === null ? '-' : formatNumber(m.validationScore)}`);
      say(`onnx              ${m.onnxBytes} bytes, sha256 ${m.sha256}`);
      if (m.notes !== null) say(`notes             ${m.notes}`);
      say(`metrics           ${JSON.stringify(m.metrics, null, 2).replace(/\n/g, '\n                  ')}`);
      say(`features (${m.featureNames.length})`);
      for (const [i, f] of m.featureNames.entries()) say(`  ${String(i).padStart(3)}  ${f}`);
    }),
  );

program
  .command('promote')
  .description(
    'make a version the production model of its service (the current one is archived) and announce it on models.versions; ' +
      'promoting the production version again only re-announces it',
  )
  .argument('<service>', 'service name')
  .argument('<version>', 'version, as `list` prints it')
  .action((service: string, version: string) =>
    runCli(async () => {
      const config = loadConfig();
      await withRegistry(config, (registry) =>
        withPublisher(config, async (publisher) => {
          const previous = (await registry.list(service)).find((m) => m.status === 'production');
          const record = await promoteAndPublish(registry, publisher, service, version);
          announced(record, previous?.version ?? null, publisher.topic);
        }),
      );
    }),
  );

program
  .command('rollback')
  .description(
    're-promote the version that was production before the current one (the current one is archived) and announce it; ' +
      'a second rollback returns to the version rolled back from',
  )
  .argument('<service>', 'service name')
  .action((service: string) =>
    runCli(async () => {
      const config = loadConfig();
      await withRegistry(config, (registry) =>
        withPublisher(config, async (publisher) => {
          const previous = (await registry.list(service)).find((m) => m.status === 'production');
          const record = await rollbackAndPublish(registry, publisher, service);
          announced(record, previous?.version ?? null, publisher.topic);
        }),
      );
    }),
  );

function notFound(service: string, version: string): TagstreamError {
  return new TagstreamError(
    'MODEL_NOT_FOUND',
    `no model ${version} for service ${service}: \`npm run models -- list ${service}\` shows the versions`,
  );
}

withLogOptions(program);
await program.parseAsync();
