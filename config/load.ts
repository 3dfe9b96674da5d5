// Loads the configuration: schema defaults, then an optional YAML file, then environment overrides; validated once.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { TagstreamError } from '../src/errors.ts';
import { redactUrl } from '../src/redact.ts';
import { withNamespace } from './topics.ts';
import { configSchema, type Config } from './schema.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Env = Readonly<Record<string, string | undefined>>;

/** Well-known variables that point tagstream at services that already run. */
const SHORTCUTS: ReadonlyArray<[string, string[], (v: string) => Json]> = [
  [
    'KAFKA_BROKERS',
    ['kafka', 'brokers'],
    (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  ['SCHEMA_REGISTRY_URL', ['schemaRegistry', 'url'], (v) => v],
  ['REDIS_URL', ['redis', 'url'], (v) => v],
  ['MYSQL_URL', ['mysql', 'url'], (v) => v],
  ['LOG_LEVEL', ['log', 'level'], (v) => v],
  ['LOG_FORMAT', ['log', 'format'], (v) => v],
  ['LOG_FILE', ['log', 'file'], (v) => v],
  ['API_TOKEN', ['api', 'token'], (v) => v],
];

function setPath(obj: Record<string, Json>, path: readonly string[], value: Json): void {
  let cur: Record<string, Json> = obj;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      cur[key] = value;
      return;
    }
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, Json>;
  });
}

function parseEnvValue(v: string): Json {
  try {
    return JSON.parse(v) as Json;
  } catch {
    return v;
  }
}

/**
 * Builds the raw (unvalidated) config object from a file and the environment.
 * Generic overrides use TAGSTREAM__<section>__<key>, e.g. TAGSTREAM__pipeline__maxBatch=500 (JSON values parsed).
 */
export function rawConfig(env: Env, fileText?: string): Record<string, Json> {
  const raw: Record<string, Json> = fileText
    ? ((parseYaml(fileText) as Record<string, Json> | null) ?? {})
    : {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('TAGSTREAM__')) continue;
    setPath(raw, name.slice('TAGSTREAM__'.length).split('__'), parseEnvValue(value));
  }
  for (const [name, path, convert] of SHORTCUTS) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, convert(value));
  }
  return raw;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}

/** Validates; the error names every failing key, e.g. `kafka.brokers[0]: expected host:port`. */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) {
    const { topics } = result.data;
    return topics.namespace
      ? { ...result.data, topics: withNamespace(topics, topics.namespace) }
      : result.data;
  }
  const lines = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new TagstreamError('CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, {
    details: { issues: lines },
  });
}

/** The config for this process: TAGSTREAM_CONFIG names an optional YAML file. */
export function loadConfig(env: Env = process.env): Config {
  const file = env['TAGSTREAM_CONFIG'];
  return parseConfig(rawConfig(env, file ? readFileSync(file, 'utf8') : undefined));
}

/** Config as printed in logs and `--help`: passwords in URLs are redacted. */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    schemaRegistry: { url: redactUrl(config.schemaRegistry.url) },
    redis: { url: redactUrl(config.redis.url) },
    mysql: { url: redactUrl(config.mysql.url) },
    api: { ...config.api, token: config.api.token ? '***' : '' },
  };
}
