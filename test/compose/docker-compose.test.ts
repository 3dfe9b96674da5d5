// Static checks of docker-compose.yml and the files it mounts; no Docker needed, so they run as unit tests.
// They catch the drift Docker would only report at `compose up` time, or never (a port the docs promise).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

interface ComposeService {
  image?: string;
  build?: unknown;
  ports?: unknown[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: unknown[];
  healthcheck?: { test?: unknown; disable?: boolean };
}

interface ComposeFile {
  version?: unknown;
  services: Record<string, ComposeService>;
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

describe('docker-compose.yml', () => {
  it('uses the Compose spec (no top-level version) and defines exactly the tagstream services', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(services).sort()).toEqual(
      ['grafana', 'kafka', 'mysql', 'pipeline', 'prometheus', 'redis', 'schema-registry'].sort(),
    );
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
