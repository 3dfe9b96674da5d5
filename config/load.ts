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
  ['API_TOKEN', ['api', 'adminToken'], (v) => v],
  ['API_ADMIN_TOKEN', ['api', 'adminToken'], (v) => v],
  ['API_ADMIN_TOKEN_FILE', ['api', 'adminTokenFile'], (v) => v],
  ['API_READ_TOKEN', ['api', 'readToken'], (v) => v],
  ['API_READ_TOKEN_FILE', ['api', 'readTokenFile'], (v) => v],
  ['API_TLS_CERT_FILE', ['api', 'tls', 'certFile'], (v) => v],
  ['API_TLS_KEY_FILE', ['api', 'tls', 'keyFile'], (v) => v],
  // Kafka security (docs/security.md). A secret's *_FILE variable names a file holding it, as Docker secrets do.
  ['KAFKA_SECURITY_PROTOCOL', ['kafka', 'security', 'protocol'], (v) => v],
  ['KAFKA_SASL_MECHANISM', ['kafka', 'sasl', 'mechanism'], (v) => v],
  ['KAFKA_SASL_USERNAME', ['kafka', 'sasl', 'username'], (v) => v],
  ['KAFKA_SASL_PASSWORD', ['kafka', 'sasl', 'password'], (v) => v],
  ['KAFKA_SASL_PASSWORD_FILE', ['kafka', 'sasl', 'passwordFile'], (v) => v],
  ['KAFKA_OAUTH_TOKEN_ENDPOINT_URL', ['kafka', 'sasl', 'oauth', 'tokenEndpointUrl'], (v) => v],
  ['KAFKA_OAUTH_CLIENT_ID', ['kafka', 'sasl', 'oauth', 'clientId'], (v) => v],
  ['KAFKA_OAUTH_CLIENT_SECRET', ['kafka', 'sasl', 'oauth', 'clientSecret'], (v) => v],
  ['KAFKA_OAUTH_CLIENT_SECRET_FILE', ['kafka', 'sasl', 'oauth', 'clientSecretFile'], (v) => v],
  ['KAFKA_OAUTH_SCOPE', ['kafka', 'sasl', 'oauth', 'scope'], (v) => v],
  // k=v,k=v (Confluent Cloud: logicalCluster=lkc-...,identityPoolId=pool-...), as librdkafka's sasl.oauthbearer.extensions.
  [
    'KAFKA_OAUTH_EXTENSIONS',
    ['kafka', 'sasl', 'oauth', 'extensions'],
    (v) =>
      Object.fromEntries(
        v
          .split(',')
          .map((kv) => kv.trim())
          .filter(Boolean)
          .map((kv) => {
            const i = kv.indexOf('=');
            return i < 0 ? [kv, ''] : [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
          }),
      ),
  ],
  ['KAFKA_SSL_CA_FILE', ['kafka', 'ssl', 'caFile'], (v) => v],
  ['KAFKA_SSL_CERT_FILE', ['kafka', 'ssl', 'certFile'], (v) => v],
  ['KAFKA_SSL_KEY_FILE', ['kafka', 'ssl', 'keyFile'], (v) => v],
  ['KAFKA_SSL_KEY_PASSWORD', ['kafka', 'ssl', 'keyPassword'], (v) => v],
  ['KAFKA_SSL_KEY_PASSWORD_FILE', ['kafka', 'ssl', 'keyPasswordFile'], (v) => v],
  // Redis, MariaDB and the registry: merged into their URLs at load (withConnectionSettings).
  ['REDIS_PASSWORD', ['redis', 'password'], (v) => v],
  ['REDIS_PASSWORD_FILE', ['redis', 'passwordFile'], (v) => v],
  ['REDIS_TLS_CA_FILE', ['redis', 'tls', 'caFile'], (v) => v],
  ['MYSQL_PASSWORD', ['mysql', 'password'], (v) => v],
  ['MYSQL_PASSWORD_FILE', ['mysql', 'passwordFile'], (v) => v],
  ['MYSQL_SSL_MODE', ['mysql', 'ssl', 'mode'], (v) => v],
  ['MYSQL_SSL_CA_FILE', ['mysql', 'ssl', 'caFile'], (v) => v],
  ['SCHEMA_REGISTRY_USERNAME', ['schemaRegistry', 'username'], (v) => v],
  ['SCHEMA_REGISTRY_PASSWORD', ['schemaRegistry', 'password'], (v) => v],
  ['SCHEMA_REGISTRY_PASSWORD_FILE', ['schemaRegistry', 'passwordFile'], (v) => v],
  ['SCHEMA_REGISTRY_TLS_CA_FILE', ['schemaRegistry', 'tls', 'caFile'], (v) => v],
];

/**
 * Secrets that may come from a file: [the key holding the secret, the key naming its file]. The file is read once,
 * when the config is loaded (a trailing newline dropped); setting both to different values is an error. redactConfig hides each secret.
 */
export const SECRET_FILES: ReadonlyArray<readonly [string[], string[]]> = [
  [
    ['kafka', 'sasl', 'password'],
    ['kafka', 'sasl', 'passwordFile'],
  ],
  [
    ['kafka', 'sasl', 'oauth', 'clientSecret'],
    ['kafka', 'sasl', 'oauth', 'clientSecretFile'],
  ],
  [
    ['kafka', 'ssl', 'keyPassword'],
    ['kafka', 'ssl', 'keyPasswordFile'],
  ],
  [
    ['api', 'readToken'],
    ['api', 'readTokenFile'],
  ],
  [
    ['api', 'adminToken'],
    ['api', 'adminTokenFile'],
  ],
  [
    ['redis', 'password'],
    ['redis', 'passwordFile'],
  ],
  [
    ['mysql', 'password'],
    ['mysql', 'passwordFile'],
  ],
  [
    ['schemaRegistry', 'password'],
    ['schemaRegistry', 'passwordFile'],
  ],
];

const getPath = (obj: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);

/** Reads every secret named by its file key into the secret's key; errors name the key and the file, never a secret. */
function readSecretFiles(config: Config): Config {
  const out = structuredClone(config);
  const problems: string[] = [];
  for (const [valuePath, filePath] of SECRET_FILES) {
    const file = getPath(out, filePath);
    if (typeof file !== 'string' || !file) continue;
    try {
      const secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      const given = getPath(out, valuePath);
      // A config parsed again (tests spread a loaded one) holds the secret read last time: the same value is fine.
      if (given && given !== secret)
        problems.push(
          `${formatPath(filePath)}: set ${formatPath(valuePath)} or ${formatPath(filePath)}, not both`,
        );
      else if (!secret) problems.push(`${formatPath(filePath)}: ${file} is empty`);
      (getPath(out, valuePath.slice(0, -1)) as Record<string, string>)[valuePath.at(-1)!] = secret;
    } catch (e) {
      problems.push(
        `${formatPath(filePath)}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (problems.length)
    throw new TagstreamError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: { issues: problems },
    });
  return out;
}

/** `url` with `params` set, values readable (a file path keeps its slashes); an empty value leaves a param alone. */
function withParams(url: URL, params: Record<string, string | undefined>): void {
  const kept = [...url.searchParams].filter(([k]) => !(params[k] ?? ''));
  const set = Object.entries(params).filter((e): e is [string, string] => Boolean(e[1]));
  const all = [...kept, ...set];
  url.search = all.length
    ? `?${all.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replaceAll('%2F', '/')}`).join('&')}`
    : '';
}

/**
 * Merges the Redis, MariaDB and registry security keys into their URLs, where every client of the service reads
 * them (src/io/redis/client.ts, src/io/mysql/pool.ts, src/io/registry/registry.ts): the password (read from its file
 * already) as the URL's, the user as its user, the CA and the TLS mode as URL options. Idempotent (a loaded config
 * parsed again is the same); a password set both in the URL and as a key, differently, is CONFIG_INVALID.
 */
function withConnectionSettings(config: Config): Config {
  const problems: string[] = [];
  const merge = (section: 'redis' | 'mysql' | 'schemaRegistry', change: (u: URL) => void): string => {
    const { url, ...keys } = config[section];
    // Nothing to merge: the URL as given (URL would normalise it, a trailing '/' added).
    if (
      !Object.values(keys).some((v) => (typeof v === 'object' ? Object.values(v).some(Boolean) : Boolean(v)))
    )
      return url;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      problems.push(`${section}.url: ${redactUrl(url)} is not a URL`);
      return url;
    }
    change(u);
    return u.toString();
  };
  const credentials = (
    section: string,
    u: URL,
    username: string | undefined,
    password: string | undefined,
  ) => {
    if (username) {
      if (u.username && decodeURIComponent(u.username) !== username)
        problems.push(`${section}.username: set the user in ${section}.url or ${section}.username, not both`);
      u.username = username;
    }
    if (password) {
      if (u.password && decodeURIComponent(u.password) !== password)
        problems.push(
          `${section}.password: set the password in ${section}.url or ${section}.password / passwordFile, not both`,
        );
      u.password = password;
    }
  };
  const { redis, mysql, schemaRegistry } = config;
  const redisUrl = merge('redis', (u) => {
    credentials('redis', u, undefined, redis.password);
    if (redis.tls?.caFile && u.protocol !== 'rediss:')
      problems.push(`redis.tls.caFile: set, but redis.url is ${u.protocol}//: use rediss:// for TLS`);
    withParams(u, { 'tls-ca': redis.tls?.caFile });
  });
  const mysqlUrl = merge('mysql', (u) => {
    credentials('mysql', u, undefined, mysql.password);
    withParams(u, { 'ssl-mode': mysql.ssl?.mode, 'ssl-ca': mysql.ssl?.caFile });
  });
  const registryUrl = merge('schemaRegistry', (u) => {
    credentials('schemaRegistry', u, schemaRegistry.username, schemaRegistry.password);
    if (schemaRegistry.tls?.caFile && u.protocol !== 'https:')
      problems.push(
        `schemaRegistry.tls.caFile: set, but schemaRegistry.url is ${u.protocol}//: use https://`,
      );
    withParams(u, { 'tls-ca': schemaRegistry.tls?.caFile });
  });
  if (problems.length)
    throw new TagstreamError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: { issues: problems },
    });
  return {
    ...config,
    redis: { ...redis, url: redisUrl },
    mysql: { ...mysql, url: mysqlUrl },
    schemaRegistry: { ...schemaRegistry, url: registryUrl },
  };
}

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

/**
 * Keys that were renamed, with their new name: a configuration that still sets one is refused with the new name,
 * rather than the value going unread (unknown keys are otherwise dropped).
 */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  'serving.historyWaitMs': 'serving.sinkWaitMs (it covers the feature-store sink too)',
};

/** Validates; the error names every failing key, e.g. `kafka.brokers[0]: expected host:port`. */
export function parseConfig(raw: unknown): Config {
  const renamed = Object.entries(RENAMED_KEYS)
    .filter(([old]) => getPath(raw, old.split('.')) !== undefined)
    .map(([old, now]) => `${old}: renamed ${now}`);
  if (renamed.length > 0)
    throw new TagstreamError('CONFIG_INVALID', `invalid configuration:\n  ${renamed.join('\n  ')}`, {
      details: { issues: renamed },
    });
  const result = configSchema.safeParse(raw);
  if (result.success) {
    const data = withConnectionSettings(readSecretFiles(result.data));
    const { topics } = data;
    return topics.namespace ? { ...data, topics: withNamespace(topics, topics.namespace) } : data;
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

const hidden = (secret: string): string => (secret ? '***' : '');

/** A service section with its URL's password and its `password` key hidden. */
function hideUrlSecret<T extends { url: string; password?: string | undefined }>(section: T): T {
  return {
    ...section,
    url: redactUrl(section.url),
    ...(section.password ? { password: hidden(section.password) } : {}),
  };
}

/** Config as printed in logs and `--help`: passwords in URLs and every secret (SECRET_FILES) are redacted. */
export function redactConfig(config: Config): Config {
  const { kafka } = config;
  return {
    ...config,
    kafka: {
      ...kafka,
      sasl: {
        ...kafka.sasl,
        password: hidden(kafka.sasl.password),
        ...(kafka.sasl.oauth
          ? { oauth: { ...kafka.sasl.oauth, clientSecret: hidden(kafka.sasl.oauth.clientSecret) } }
          : {}),
      },
      ssl: { ...kafka.ssl, keyPassword: hidden(kafka.ssl.keyPassword) },
    },
    schemaRegistry: hideUrlSecret(config.schemaRegistry),
    redis: hideUrlSecret(config.redis),
    mysql: hideUrlSecret(config.mysql),
    api: {
      ...config.api,
      readToken: hidden(config.api.readToken),
      adminToken: hidden(config.api.adminToken),
    },
  };
}
