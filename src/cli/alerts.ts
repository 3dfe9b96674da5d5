// `npm run alerts -- tail`: follows the alerts topic through the schema registry and prints one line per alert
// (time, severity, rule, entity, message, value against threshold), or JSON lines; Ctrl-C stops it cleanly.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { TagstreamError, isTagstreamError } from '../errors.ts';
import { createKafka, mapKafkaError, type ConsumedRecord, type KafkaClient } from '../io/kafka/client.ts';
import { AvroSerde, confluentRegistry, mapRegistryError, registryRequest } from '../io/registry/registry.ts';
import { createLogger } from '../log.ts';
import { ALERT_SEVERITIES, type AlertSeverity } from '../schemas/catalog.ts';
import type { Alert } from '../schemas/types.ts';
import { parseHostPort, tcpReachable } from '../io/net/tcp.ts';
import { int, withLogOptions } from './args.ts';
import { runCli } from './run.ts';

export interface AlertFilter {
  /** Show this severity and above (info < warning < critical); unknown severities are always shown. */
  readonly minSeverity?: AlertSeverity;
  /** Show only these rules. */
  readonly rules?: ReadonlySet<string>;
}

const RANK: Readonly<Record<AlertSeverity, number>> = { info: 0, warning: 1, critical: 2 };

export function parseSeverity(text: string): AlertSeverity {
  const s = text.toLowerCase();
  if (!(ALERT_SEVERITIES as readonly string[]).includes(s))
    throw new InvalidArgumentError(`expected one of ${ALERT_SEVERITIES.join(', ')}`);
  return s as AlertSeverity;
}

/** `--rule a,b --rule c`: every rule named, in one list. */
export function parseRules(text: string, previous: readonly string[] = []): string[] {
  const rules = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (rules.length === 0)
    throw new InvalidArgumentError('expected a rule name (or several, comma-separated)');
  return [...previous, ...rules];
}

export function matches(alert: Alert, filter: AlertFilter): boolean {
  if (filter.rules && !filter.rules.has(alert.rule)) return false;
  if (filter.minSeverity === undefined) return true;
  const rank = RANK[alert.severity as AlertSeverity] as number | undefined;
  // A level added after this reader was written may be the most severe of all: show it rather than hide it.
  return rank === undefined || rank >= RANK[filter.minSeverity];
}

const num = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v));

const time = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');

/** One readable line: raised time (UTC), severity, rule, entity [service], message, value against threshold. */
export function formatAlert(a: Alert): string {
  const entity = a.service === null ? a.entity_id : `${a.entity_id} [${a.service}]`;
  return [
    time(a.raised_at),
    a.severity.toUpperCase().padEnd(8),
    a.rule,
    entity,
    `${a.message}  (value ${num(a.value)}, threshold ${num(a.threshold)})`,
  ].join('  ');
}

/** The decoded value as an Alert, or a description of what is wrong with it. */
export function asAlert(value: unknown): Alert | string {
  const v = value as Partial<Record<keyof Alert, unknown>> | null;
  if (typeof v !== 'object' || v === null) return 'not a record';
  for (const k of ['alert_id', 'rule', 'severity', 'entity_id', 'message'] as const)
    if (typeof v[k] !== 'string') return `field ${k} is not a string`;
  for (const k of ['value', 'threshold', 'raised_at', 'event_time'] as const)
    if (typeof v[k] !== 'number') return `field ${k} is not a number`;
  if (v.service !== null && typeof v.service !== 'string') return 'field service is not a string or null';
  return v as Alert;
}

/** Fails fast, with what to do, when no broker or the registry does not answer (kafkajs would retry for long). */
async function requireServices(config: Config): Promise<void> {
  const brokers = config.kafka.brokers;
  const reachable = await Promise.all(
    brokers.map((b) => {
      const { host, port } = parseHostPort(b);
      return tcpReachable(host, port, config.kafka.connectTimeoutMs);
    }),
  );
  if (!reachable.some(Boolean))
    throw mapKafkaError(
      Object.assign(new Error(`connect ECONNREFUSED ${brokers.join(',')}`), {
        name: 'KafkaJSConnectionError',
      }),
      brokers,
      `reading ${config.topics.alerts}`,
    );
  const url = config.schemaRegistry.url;
  try {
    await registryRequest(url, '/subjects', { timeoutMs: 5_000 });
  } catch (e) {
    throw mapRegistryError(e, url, `reading ${config.topics.alerts}`);
  }
}

interface TailOptions {
  readonly fromBeginning?: boolean;
  readonly severity?: AlertSeverity;
  readonly rule?: string[];
  readonly json?: boolean;
  readonly group?: string;
  readonly maxMessages?: number;
}

const note = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Waits until the topic exists (the serving pipeline creates it on start) or a stop, saying so once. */
async function waitForTopic(kafka: KafkaClient, topic: string, stopped: () => boolean): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let said = false; !stopped() && !(await admin.listTopics()).includes(topic); said = true) {
      if (!said)
        note(`topic ${topic} does not exist yet: waiting for the pipeline to create it (Ctrl-C to stop)`);
      for (let i = 0; i < 20 && !stopped(); i++) await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

async function tail(opts: TailOptions): Promise<void> {
  const config = loadConfig();
  const topic = config.topics.alerts;
  await requireServices(config);
  // kafkajs' own warnings (a coordinator still loading) would interleave with the alerts: errors only.
  const log = createLogger('alerts', process.env['LOG_LEVEL'] ?? 'error');
  const kafka = createKafka(config, log, `${config.kafka.clientId}-alerts-cli`);
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const filter: AlertFilter = {
    ...(opts.severity === undefined ? {} : { minSeverity: opts.severity }),
    ...(opts.rule === undefined ? {} : { rules: new Set(opts.rule) }),
  };
  // Without --group, a throwaway group that commits nothing: every run starts at the end (or the beginning).
  const groupId = opts.group ?? `${config.kafka.clientId}-alerts-tail-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readCommitted: true });

  let printed = 0;
  let stopping: Promise<void> | undefined;
  let failure: unknown;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const stop = (): Promise<void> =>
    (stopping ??= consumer
      .disconnect()
      .catch(() => undefined)
      .finally(done));
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());

  try {
    await consumer.connect();
    await waitForTopic(kafka, topic, () => stopping !== undefined);
    if (stopping) return await stopping;
    await consumer.subscribe([topic], { fromBeginning: opts.fromBeginning ?? false });
  } catch (e) {
    await consumer.disconnect().catch(() => undefined);
    throw mapKafkaError(e, config.kafka.brokers, `subscribing to ${topic}`);
  }
  note(
    `following ${topic} (${opts.fromBeginning ? 'from the beginning' : 'new alerts only'}` +
      `${opts.group ? `, group ${opts.group}` : ''}); Ctrl-C to stop`,
  );
  await consumer.run({
    autoCommit: opts.group !== undefined,
    // Resolved record by record: with --group, a stop mid-batch commits exactly what was printed.
    autoResolve: false,
    eachBatch: async ({ partition, records }, { resolveOffset }) => {
      for (const message of records) {
        if (stopping) return;
        await show(partition, message);
        resolveOffset(message.offset);
      }
    },
  });
  async function show(partition: number, message: ConsumedRecord): Promise<void> {
    let alert: Alert | string;
    try {
      alert = asAlert(await serde.decode(message.value));
    } catch (e) {
      if (isTagstreamError(e) && e.isRecordError) {
        note(`skipping ${topic}[${partition}]@${message.offset}: ${e.code} ${e.message}`);
        return;
      }
      failure = e;
      void stop();
      return;
    }
    if (typeof alert === 'string') {
      note(`skipping ${topic}[${partition}]@${message.offset}: not an alert (${alert})`);
      return;
    }
    if (!matches(alert, filter)) return;
    process.stdout.write(`${opts.json ? JSON.stringify(alert) : formatAlert(alert)}\n`);
    printed += 1;
    if (opts.maxMessages !== undefined && printed >= opts.maxMessages) void stop();
  }
  await finished;
  if (failure !== undefined)
    throw isTagstreamError(failure)
      ? failure
      : new TagstreamError('INTERNAL', `reading ${topic} failed: ${String(failure)}`, { cause: failure });
}

const program = new Command('alerts')
  .description(
    'Alerts raised by the alert rules (topic alerts, Avro through the schema registry). ' +
      'Uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL (or TAGSTREAM_CONFIG / TAGSTREAM__topics__alerts).',
  )
  .showHelpAfterError();

program
  .command('tail')
  .description(
    'print alerts as they arrive, one line each: raised time (UTC), severity, rule, entity [service], message, ' +
      'value and threshold; Ctrl-C stops',
  )
  .option('--from-beginning', 'start at the oldest alert kept instead of the newest')
  .addOption(
    new Option('--severity <level>', 'only this severity and above (info < warning < critical)').argParser(
      parseSeverity,
    ),
  )
  .option(
    '--rule <names>',
    'only these rules, comma-separated or repeated (e.g. maintenance,drift)',
    parseRules,
  )
  .option('--json', 'print each alert as one JSON object per line')
  .option(
    '--group <id>',
    'consumer group to resume from, committing what was read; default: a throwaway group that commits nothing',
  )
  .option('--max-messages <n>', 'stop after printing n alerts', int(1))
  .action((opts: TailOptions) => runCli(() => tail(opts)));

withLogOptions(program);
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await program.parseAsync();
