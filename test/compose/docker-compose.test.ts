// Static checks of docker-compose.yml and the files it mounts; no Docker needed, so they run as unit tests.
// They catch the drift Docker would only report at `compose up` time, or never (a port the docs promise). The
// secure profile is held to the TypeScript of the local secure stack (src/dev/stack/secure*.ts): its users, secrets,
// ports, server settings, ACL principals and the pipeline's settings.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../config/load.ts';
import {
  COMPOSE_HOSTS,
  COMPOSE_KAFKA_INTERNAL_PORT,
  COMPOSE_SERVICE_SECRETS,
  composeClientEnv,
  composeSecret,
  composeSecretFiles,
} from '../../src/dev/stack/secure-compose.ts';
import {
  MARIADB_USERS,
  REDIS_USERS,
  SECURE_DATA_PORTS,
  mariadbArgs,
  redisServerConfig,
  secureDataPaths,
  secureMysqlConfig,
  secureRedisConfig,
} from '../../src/dev/stack/secure-data.ts';
import { SECURE_PORTS, SECURE_USERS, secureAcls, secureEnv } from '../../src/dev/stack/secure.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

interface ComposeService {
  image?: string;
  build?: unknown;
  profiles?: string[];
  command?: unknown;
  secrets?: string[];
  ports?: unknown[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: unknown[];
  healthcheck?: { test?: unknown; disable?: boolean };
}

interface ComposeFile {
  version?: unknown;
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
}

interface PortMapping {
  published: number;
  target: number;
}

function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

function loadCompose(): ComposeFile {
  const doc: unknown = parse(readRepoFile('docker-compose.yml'));
  if (typeof doc !== 'object' || doc === null || !('services' in doc)) {
    throw new Error('docker-compose.yml: expected a mapping with `services`');
  }
  return doc as ComposeFile;
}

/** Port mappings in short ("[ip:]host:container[/proto]") or long ({ target, published }) syntax. */
function portMappings(service: ComposeService): PortMapping[] {
  return (service.ports ?? []).flatMap((p): PortMapping[] => {
    if (typeof p === 'object' && p !== null) {
      const { target, published } = p as { target?: unknown; published?: unknown };
      return published === undefined ? [] : [{ published: Number(published), target: Number(target) }];
    }
    const parts = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    // A bare "9092" exposes the port on a random host port: not a published address anyone can rely on.
    if (parts.length < 2) return [];
    return [{ published: Number(parts.at(-2)), target: Number(parts.at(-1)) }];
  });
}

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((kv) => {
        const i = kv.indexOf('=');
        return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function dependencies(service: ComposeService): Array<{ name: string; condition: string }> {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return deps.map((name) => ({ name, condition: 'service_started' }));
  return Object.entries(deps).map(([name, d]) => ({ name, condition: d.condition ?? 'service_started' }));
}

/** Bind mounts of host paths, short ("./src:/dst[:ro]") or long ({ type: bind, source, target }). */
function bindMounts(service: ComposeService): Array<{ source: string; target: string }> {
  return (service.volumes ?? []).flatMap((v) => {
    if (typeof v === 'object' && v !== null) {
      const { source, target } = v as { source?: unknown; target?: unknown };
      return typeof source === 'string' ? [{ source, target: String(target) }] : [];
    }
    const [source = '', target = ''] = String(v).split(':');
    return [{ source, target }];
  });
}

/**
 * Ports of every `127.0.0.1:NNNN` / `localhost:NNNN` mentioned under a Markdown heading containing
 * "docker" (and its subsections). Lines inside code fences are never headings: `# comment` in a shell
 * block must not open or close a section.
 */
function dockerSectionPorts(markdown: string): number[] {
  const ports = new Set<number>();
  let inFence = false;
  // Heading level of the docker section we are in; undefined when outside one.
  let dockerLevel: number | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    if (/^\s{0,3}(```|~~~)/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^\s{0,3}(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = heading[1]?.length ?? 1;
      if (dockerLevel !== undefined && level <= dockerLevel) dockerLevel = undefined;
      if (dockerLevel === undefined && /docker/i.test(heading[2] ?? '')) dockerLevel = level;
      continue;
    }
    if (dockerLevel === undefined) continue;
    for (const m of line.matchAll(/(?<![\w.-])(?:127\.0\.0\.1|localhost):(\d{1,5})\b/g)) {
      ports.add(Number(m[1]));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

const compose = loadCompose();
const services = compose.services;

function service(name: string): ComposeService {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml: no service ${name}`);
  return s;
}

const publishedPorts = new Set(
  Object.values(services).flatMap((s) => portMappings(s).map((p) => p.published)),
);

const PLAIN_SERVICES = ['grafana', 'kafka', 'mysql', 'pipeline', 'prometheus', 'redis', 'schema-registry'];
const SECURE_SERVICES = [
  'secure-secrets',
  'kafka-secure',
  'redis-secure',
  'mariadb-secure',
  'secure-setup',
  'pipeline-secure',
];

describe('docker-compose.yml', () => {
  it('uses the Compose spec (no top-level version) and defines exactly the tagstream services', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(services).sort()).toEqual([...PLAIN_SERVICES, ...SECURE_SERVICES].sort());
  });

  it('leaves `docker compose up` as it was: only the secure services have a profile, `secure`', () => {
    for (const name of PLAIN_SERVICES) expect(service(name).profiles, name).toBeUndefined();
    for (const name of SECURE_SERVICES) expect(service(name).profiles, name).toEqual(['secure']);
  });

  it('escapes every $ meant for a shell ($$): compose would read it as a variable of its own', () => {
    const unescaped = readRepoFile('docker-compose.yml')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .filter((line) => /\$(?!\$)/.test(line.replaceAll('$$', '')));
    expect(unescaped).toEqual([]);
  });

  it.each([
    ['kafka', 9092],
    ['schema-registry', 8081],
    ['redis', 6379],
    ['mysql', 3306],
    ['prometheus', 9090],
    ['grafana', 3000],
    ['pipeline', 9464],
    ['pipeline', 8080],
  ] as const)('%s publishes port %i', (name, port) => {
    expect(portMappings(service(name)).map((p) => p.published)).toContain(port);
  });

  it('points the pipeline at the other services by their in-network addresses', () => {
    const env = environment(service('pipeline'));
    expect(env['KAFKA_BROKERS']).toBe('kafka:29092');
    expect(env['SCHEMA_REGISTRY_URL']).toBe('http://schema-registry:8081');
    expect(env['REDIS_URL']).toBe('redis://redis:6379');
    expect(env['MYSQL_URL']).toBe('mysql://root@mysql:3306/tagstream');
    // Each host is a compose service, never the container's own loopback.
    const hosts = [
      ...(env['KAFKA_BROKERS'] ?? '').split(',').map((b) => b.split(':')[0]),
      ...['SCHEMA_REGISTRY_URL', 'REDIS_URL', 'MYSQL_URL'].map((k) => new URL(env[k] ?? '').hostname),
    ];
    for (const host of hosts) expect(Object.keys(services)).toContain(host);
  });

  it('lets the pipeline metrics endpoint be reached from outside its container', () => {
    expect(environment(service('pipeline'))['TAGSTREAM__metrics__host']).toBe('0.0.0.0');
  });

  it('advertises Kafka at kafka:29092 to containers and at a published 127.0.0.1 port to the host', () => {
    const advertised = environment(service('kafka'))['KAFKA_ADVERTISED_LISTENERS'] ?? '';
    expect(advertised).toContain('//kafka:29092');
    const hostPort = /\/\/127\.0\.0\.1:(\d+)/.exec(advertised)?.[1];
    expect(hostPort).toBeDefined();
    expect(publishedPorts).toContain(Number(hostPort));
  });

  it('names only defined services in depends_on, and only healthchecked ones for service_healthy', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of dependencies(s)) {
        expect(services, `${name} depends on ${dep.name}`).toHaveProperty([dep.name]);
        if (dep.condition === 'service_healthy') {
          expect(services[dep.name]?.healthcheck?.test, `${dep.name} needs a healthcheck`).toBeDefined();
        }
      }
    }
    expect(dependencies(service('pipeline'))).toEqual(
      expect.arrayContaining(
        ['kafka', 'schema-registry', 'redis', 'mysql'].map((name) => ({
          name,
          condition: 'service_healthy',
        })),
      ),
    );
  });

  it('keeps Kafka (topics, _schemas) and MariaDB data on named volumes that outlive the containers', () => {
    const named = new Set(Object.keys((compose as { volumes?: Record<string, unknown> }).volumes ?? {}));
    const mounted = (name: string): Map<string, string> =>
      new Map(
        (service(name).volumes ?? [])
          .map((v) => String(v).split(':'))
          .filter(([source]) => named.has(source ?? ''))
          .map(([source, target]) => [target ?? '', source ?? '']),
      );
    const kafkaDir = environment(service('kafka'))['KAFKA_LOG_DIRS'] ?? '';
    expect(kafkaDir).not.toBe('');
    expect(mounted('kafka').has(kafkaDir)).toBe(true);
    expect(mounted('mysql').has('/var/lib/mysql')).toBe(true);
  });

  it('bind-mounts only host paths that exist in the repo', () => {
    const sources = Object.values(services)
      .flatMap(bindMounts)
      .map((m) => m.source)
      .filter((src) => src.startsWith('./'));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) expect(existsSync(join(repoRoot, src)), src).toBe(true);
    // The build context is the repo too.
    expect(existsSync(join(repoRoot, 'Dockerfile'))).toBe(true);
  });

  it('has Prometheus scrape the port the pipeline serves metrics on', () => {
    const prom = parse(readRepoFile('config/prometheus/prometheus.yml')) as {
      scrape_configs?: Array<{
        job_name?: string;
        scrape_interval?: string;
        static_configs?: Array<{ targets?: string[] }>;
      }>;
    };
    const job = prom.scrape_configs?.find((j) => j.job_name === 'tagstream');
    expect(job?.scrape_interval).toBe('5s');
    const targets = (job?.static_configs ?? []).flatMap((c) => c.targets ?? []);
    const metricsPort = portMappings(service('pipeline')).find((p) => p.published === 9464)?.target;
    expect(targets).toContain(`pipeline:${metricsPort}`);
  });

  it('provisions Grafana with the compose Prometheus and the mounted dashboards folder', () => {
    const ds = parse(readRepoFile('config/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources?: Array<{ type?: string; url?: string }>;
    };
    const prometheus = ds.datasources?.find((d) => d.type === 'prometheus');
    expect(prometheus?.url).toBe('http://prometheus:9090');

    const dash = parse(readRepoFile('config/grafana/provisioning/dashboards/tagstream.yml')) as {
      providers?: Array<{ options?: { path?: string } }>;
    };
    const mounted = bindMounts(service('grafana')).find((m) => m.source === './config/grafana/dashboards');
    expect(mounted).toBeDefined();
    expect(dash.providers?.map((p) => p.options?.path)).toContain(mounted?.target);
  });

  it('publishes every local port the README and docs/ promise in their Docker sections', () => {
    // README.md and every docs/*.md page (docs/operations.md "With Docker", docs/metrics.md "Grafana dashboard
    // (docker compose)"); nothing to hold the compose file to until a page has a Docker section.
    const docsDir = join(repoRoot, 'docs');
    const pages = [
      'README.md',
      ...(existsSync(docsDir)
        ? readdirSync(docsDir)
            .filter((f) => f.endsWith('.md'))
            .map((f) => `docs/${f}`)
        : []),
    ].filter((page) => existsSync(join(repoRoot, page)));
    for (const page of pages) {
      for (const port of dockerSectionPorts(readRepoFile(page))) {
        expect(publishedPorts, `${page} mentions port ${port}`).toContain(port);
      }
    }
  });
});

describe('dockerSectionPorts', () => {
  const sample = [
    '# tagstream',
    'Local stack: Kafka on 127.0.0.1:9092, the registry on http://127.0.0.1:8081/apis/ccompat/v7.',
    '## Running with Docker',
    'Grafana: http://localhost:3000, metrics on 127.0.0.1:9464/metrics.',
    '```sh',
    '# not a heading: still in the Docker section',
    'curl localhost:8080/health',
    '```',
    '### Ports',
    'Kafka (host listener): 127.0.0.1:9092; not a host: mylocalhost:1111, 10.127.0.0.1:2222.',
    '## Configuration',
    'MySQL at localhost:3306.',
    '```',
    '## docker inside a code fence is not a heading: localhost:4444',
    '```',
    '## docker compose (again)',
    'Prometheus at localhost:9090.',
  ].join('\n');

  it('collects the ports in docker sections and their subsections only', () => {
    expect(dockerSectionPorts(sample)).toEqual([3000, 8080, 9090, 9092, 9464]);
  });

  it('finds nothing when there is no docker section', () => {
    expect(
      dockerSectionPorts('# tagstream\nRun on localhost:9092.\n## Configuration\nMySQL at localhost:3306.\n'),
    ).toEqual([]);
  });
});

describe('the secure profile, against the local secure stack (src/dev/stack/secure*.ts)', () => {
  /** The stack's files relative to the repository, as docker-compose.yml names them (./.stack/secure/...). */
  const local = secureDataPaths('.stack');
  const files = composeSecretFiles(local);
  const secureSecrets = service('secure-secrets');
  const args = (s: ComposeService): string[] => (Array.isArray(s.command) ? s.command.map(String) : []);

  /** The secure-secrets arguments after its script and $0: `<service>: <secret> <secret> ...`. */
  const copied = new Map(
    args(secureSecrets)
      .slice(4)
      .map((spec) => {
        const [dir = '', names = ''] = spec.split(':');
        return [dir.trim(), names.trim().split(/\s+/)] as const;
      }),
  );

  /** Every /run/secrets/<name> a service's command, environment or healthcheck names. */
  const named = (s: ComposeService): string[] =>
    [...JSON.stringify([s.command, s.environment, s.healthcheck]).matchAll(/\/run\/secrets\/(\w+)/g)].map(
      (m) => m[1]!,
    );

  it('a Docker secret for every file `stack compose-secrets` writes, from the same host file', () => {
    expect(
      Object.fromEntries(Object.entries(compose.secrets ?? {}).map(([name, s]) => [name, s.file])),
    ).toEqual(Object.fromEntries(Object.entries(files).map(([name, file]) => [name, `./${file}`])));
    expect([...(secureSecrets.secrets ?? [])].sort()).toEqual(Object.keys(files).sort());
    // Only the copying one-shot has them as Docker secrets (host mode 600).
    for (const name of SECURE_SERVICES.filter((n) => n !== 'secure-secrets'))
      expect(service(name).secrets, name).toBeUndefined();
  });

  it('the same users as the local stack, a password each: Kafka (SCRAM), Redis (ACL), MariaDB', () => {
    const names = Object.keys(compose.secrets ?? {});
    for (const u of SECURE_USERS) expect(names).toContain(`kafka_${u}_password`);
    for (const u of REDIS_USERS) expect(names).toContain(`redis_${u}_password`);
    for (const u of MARIADB_USERS) expect(names).toContain(`mariadb_${u}_password`);
    expect(names.filter((n) => n.endsWith('_password'))).toHaveLength(
      SECURE_USERS.length + REDIS_USERS.length + MARIADB_USERS.length,
    );
  });

  it('each service gets its own secrets in a volume of its own, and nothing else', () => {
    expect(Object.fromEntries(copied)).toEqual(COMPOSE_SERVICE_SECRETS);
    for (const [name, secrets] of Object.entries(COMPOSE_SERVICE_SECRETS)) {
      expect(secureSecrets.volumes, name).toContain(`${name}-secrets:/out/${name}`);
      expect(service(name).volumes, name).toContain(`${name}-secrets:/run/secrets:ro`);
      // What the service reads is among what it gets.
      expect(
        named(service(name)).filter((n) => !secrets.includes(n)),
        name,
      ).toEqual([]);
      for (const s of secrets) expect(Object.keys(files), name).toContain(s);
    }
    // The pipeline holds no admin or root login; only the setup does.
    expect(COMPOSE_SERVICE_SECRETS['pipeline-secure']!.filter((n) => /admin|root/.test(n))).toEqual([]);
  });

  it("publishes the local secure stack's ports, on the host's loopback only", () => {
    const loopback = (name: string): number[] =>
      (service(name).ports ?? []).map((p) => {
        expect(String(p), name).toMatch(/^127\.0\.0\.1:/);
        return Number(String(p).split(':')[1]);
      });
    expect(loopback('kafka-secure').sort()).toEqual([SECURE_PORTS.sasl, SECURE_PORTS.mtls].sort());
    expect(loopback('redis-secure')).toEqual([SECURE_DATA_PORTS.redis]);
    expect(loopback('mariadb-secure')).toEqual([SECURE_DATA_PORTS.mariadb]);
    // The secure pipeline's /metrics beside the plain one's.
    expect(loopback('pipeline-secure')).toEqual([9465]);
    expect(portMappings(service('pipeline-secure'))[0]?.target).toBe(9464);
  });

  it('Kafka: the broker settings and SCRAM users compose-secrets writes; the setup applies the ACLs of every principal', () => {
    const script = args(service('kafka-secure')).join('\n');
    expect(script).toContain('kafka-storage.sh format');
    expect(script).toContain(
      '-c /run/secrets/kafka_server_properties $$(cat /run/secrets/kafka_format_args)',
    );
    expect(script).toContain(
      'exec /opt/kafka/bin/kafka-server-start.sh /run/secrets/kafka_server_properties',
    );
    expect(args(service('secure-setup'))).toEqual(['npm', 'run', 'stack', '--', 'compose-setup']);
    // Every ACL principal is a SCRAM user with a password, and none is admin (the super user).
    const principals = new Set(secureAcls(parseConfig({}).topics).map((a) => a.principal));
    expect([...principals].sort()).toEqual(
      SECURE_USERS.filter((u) => u !== 'admin')
        .map((u) => `User:${u}`)
        .sort(),
    );
  });

  it("Redis: redis-secure's settings of the local stack (TLS only, the ACL file), paths in the container", () => {
    const conf = redisServerConfig(local, SECURE_DATA_PORTS.redis)
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as const);
    // Not carried over: the process's own bind (the container's every interface, published on loopback), its
    // folder, the process-title marker the stack finds it by; protected mode is moot with the default user off.
    const notCarried = ['bind', 'dir', 'proc-title-template', 'protected-mode'];
    const inContainer = (value: string): string => {
      if (value === '""') return '';
      if (value === join(local.redisDir, 'users.acl')) return composeSecret('redis_users_acl');
      const secret = Object.entries(files).find(([, f]) => f === value)?.[0];
      return secret ? composeSecret(secret) : value;
    };
    const command = args(service('redis-secure'));
    expect(command[0]).toBe('redis-server');
    const flags = new Map<string, string>();
    for (let i = 1; i < command.length; i += 2) flags.set(command[i]!.replace(/^--/, ''), command[i + 1]!);
    const expected = conf.filter(([k]) => !notCarried.includes(k));
    expect(Object.fromEntries(flags)).toEqual(
      Object.fromEntries(expected.map(([k, v]) => [k, inContainer(v)])),
    );
  });

  it("MariaDB: mariadb-secure's flags of the local stack (TLS required), the image's datadir and user", () => {
    const localArgs = mariadbArgs(local, SECURE_DATA_PORTS.mariadb);
    const notCarried =
      /^--(no-defaults|datadir|tmpdir|bind-address|socket|pid-file|user|skip-log-bin|innodb-buffer-pool-size)\b/;
    const inContainer = (arg: string): string => {
      const [flag, value = ''] = arg.split('=');
      const secret = Object.entries(files).find(([, f]) => f === value)?.[0];
      return secret ? `${flag}=${composeSecret(secret)}` : arg;
    };
    expect(args(service('mariadb-secure')).sort()).toEqual(
      localArgs
        .filter((a) => !notCarried.test(a))
        .map(inContainer)
        .sort(),
    );
    expect(environment(service('mariadb-secure'))['MARIADB_ROOT_PASSWORD_FILE']).toBe(
      composeSecret('mariadb_root_password'),
    );
  });

  it("the secure pipeline: the local profile's settings as `tagstream`, with the containers' hosts and secrets", () => {
    const env = environment(service('pipeline-secure'));
    const { SCHEMA_REGISTRY_URL, TAGSTREAM__metrics__host, ...rest } = env;
    expect(rest).toEqual(composeClientEnv());
    expect(SCHEMA_REGISTRY_URL).toBe('http://schema-registry:8081');
    expect(TAGSTREAM__metrics__host).toBe('0.0.0.0');
    // The same keys and values as `up --secure` prints and writes, but for hosts and file paths.
    const secretOf = (file: string): string =>
      composeSecret(Object.entries(files).find(([, f]) => f === file)?.[0] ?? `(no secret for ${file})`);
    const kafka = secureEnv(local, 'tagstream');
    const redis = secureRedisConfig(local, 'tagstream');
    const mysql = secureMysqlConfig(local, 'tagstream');
    expect(composeClientEnv()).toEqual({
      ...kafka,
      KAFKA_BROKERS: `${COMPOSE_HOSTS.kafka}:${COMPOSE_KAFKA_INTERNAL_PORT}`,
      KAFKA_SASL_PASSWORD_FILE: secretOf(kafka['KAFKA_SASL_PASSWORD_FILE']!),
      KAFKA_SSL_CA_FILE: secretOf(kafka['KAFKA_SSL_CA_FILE']!),
      REDIS_URL: redis.url.replace('127.0.0.1', COMPOSE_HOSTS.redis),
      REDIS_PASSWORD_FILE: secretOf(redis.passwordFile),
      REDIS_TLS_CA_FILE: secretOf(redis.tls.caFile),
      MYSQL_URL: mysql.url.replace('127.0.0.1', COMPOSE_HOSTS.mariadb),
      MYSQL_PASSWORD_FILE: secretOf(mysql.passwordFile),
      MYSQL_SSL_MODE: mysql.ssl.mode,
      MYSQL_SSL_CA_FILE: secretOf(mysql.ssl.caFile),
    });
  });

  it('starts each service once what it needs is there: secrets, then healthy servers, then the setup', () => {
    const needs = (name: string) =>
      Object.fromEntries(dependencies(service(name)).map((d) => [d.name, d.condition]));
    for (const name of ['kafka-secure', 'redis-secure', 'mariadb-secure'])
      expect(needs(name)).toEqual({ 'secure-secrets': 'service_completed_successfully' });
    expect(needs('secure-setup')).toEqual({
      'kafka-secure': 'service_healthy',
      'mariadb-secure': 'service_healthy',
    });
    expect(needs('pipeline-secure')).toMatchObject({
      'secure-setup': 'service_completed_successfully',
      'redis-secure': 'service_healthy',
      'schema-registry': 'service_healthy',
    });
  });
});
