// The REST API over in-memory dependencies, over real HTTP on a free port: request validation (400 with a code),
// unknown services and routes (404), scoped bearer tokens (401/403), the rate limit (429), the body limit (413),
// dependency failures (503/500), readiness, OpenAPI and HTTPS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReadinessProbe } from '../../src/api/readiness.ts';
import {
  createApi,
  grantOf,
  statusOf,
  toErrorResponse,
  validationMessage,
  type Api,
  type ApiOptions,
} from '../../src/api/server.ts';
import { TagstreamError } from '../../src/errors.ts';
import { alert, at, fakeDeps, MODEL, prediction, T0, type ApiBody, type FakeOptions } from './fakes.ts';

const TOKEN = 's3cret-token';
const READ = 'r3ad-token';
let running: Api | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(
  options: FakeOptions & { token?: string; read?: string } & Partial<
      Pick<ApiOptions, 'rateLimitPerMinute' | 'bodyLimitBytes'>
    > = {},
) {
  const { deps, calls } = fakeDeps(options);
  running = createApi(deps, {
    host: '127.0.0.1',
    port: 0,
    tokens: { admin: options.token ?? '', read: options.read ?? '' },
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    bodyLimitBytes: options.bodyLimitBytes ?? 65_536,
  });
  const port = await running.listen();
  const base = `http://127.0.0.1:${port}`;
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : {}) as ApiBody,
    };
  };
  return { call, calls };
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('health', () => {
  it('/healthz answers without checking anything', async () => {
    const { call } = await start();
    const r = await call('/healthz');
    expect(r.status).toBe(200);
    expect(r.body['status']).toBe('ok');
  });

  it('/readyz is 200 when every probe answers, with latencies', async () => {
    const { call } = await start();
    const r = await call('/readyz');
    expect(r.status).toBe(200);
    expect(r.body['status']).toBe('ready');
    expect(r.body['checks'].map((c: { name: string }) => c.name)).toEqual(['kafka', 'redis']);
    for (const c of r.body['checks']) {
      expect(c.ok).toBe(true);
      expect(c.latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('/readyz is 503 naming the failing and the hanging dependency, with our code and message', async () => {
    const probes: ReadinessProbe[] = [
      { name: 'kafka', check: async () => undefined },
      {
        name: 'redis',
        check: async () => {
          throw new TagstreamError('REDIS_UNAVAILABLE', 'Redis at redis://x is not reachable');
        },
      },
      {
        name: 'mysql',
        unavailableCode: 'MYSQL_UNAVAILABLE',
        check: () => new Promise<void>(() => undefined),
      },
    ];
    const { call } = await start({ probes });
    const r = await call('/readyz');
    expect(r.status).toBe(503);
    expect(r.body['status']).toBe('not_ready');
    const [kafka, redis, mysql] = r.body['checks'];
    expect(kafka).toMatchObject({ name: 'kafka', ok: true });
    expect(redis).toMatchObject({
      name: 'redis',
      ok: false,
      error: { code: 'REDIS_UNAVAILABLE', message: 'Redis at redis://x is not reachable' },
    });
    expect(mysql).toMatchObject({
      name: 'mysql',
      ok: false,
      error: { code: 'MYSQL_UNAVAILABLE', message: 'mysql: no answer within 200 ms' },
    });
    expect(mysql?.latency_ms).toBeGreaterThanOrEqual(190);
  });
});

describe('predictions', () => {
  it('returns the latest prediction with details parsed, for an entity id with | and : in it', async () => {
    const older = prediction({ event_time: T0 - 60_000, prediction: 1 });
    const newer = prediction({ entity_id: 'S1|TENT:40x60', prediction: 7 });
    const { call } = await start({ predictions: [older, newer] });
    const r = await call(`/v1/predictions/demand/${encodeURIComponent('S1|TENT:40x60')}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ...newer,
      model_versions: [...newer.model_versions],
      details: { reason: 'weekend' },
    });
  });

  it('404 UNKNOWN_SERVICE for a service that does not exist, on every route that takes one', async () => {
    const { call } = await start();
    for (const path of [
      '/v1/predictions/weather/x',
      '/v1/predictions/weather/x/history',
      '/v1/models?service=weather',
      '/v1/models/weather/v1',
    ]) {
      const r = await call(path);
      expect(r.status, path).toBe(404);
      expect(r.body['error']['code'], path).toBe('UNKNOWN_SERVICE');
      expect(r.body['error']['message'], path).toMatch(
        /demand, maintenance, quality, pricing, restock, pack/,
      );
    }
  });

  it('404 PREDICTION_NOT_FOUND when nothing is cached for the entity', async () => {
    const { call } = await start();
    const r = await call('/v1/predictions/quality/tag-unknown');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({
      error: {
        code: 'PREDICTION_NOT_FOUND',
        message: "no quality prediction cached for entity 'tag-unknown'",
      },
    });
  });

  it('history parses ISO dates and ms, defaults the limit, and passes them on', async () => {
    const { call, calls } = await start();
    const e = encodeURIComponent('S1|TENT-40x60');
    let r = await call(
      `/v1/predictions/demand/${e}/history?from=2026-06-15&to=2026-06-15T13:00:00%2B01:00&limit=3`,
    );
    expect(r.status).toBe(200);
    expect(r.body['items']).toHaveLength(1);
    expect(at(r.body, 'items', 0, 'details')).toEqual({ reason: 'weekend' });
    expect(calls.range.at(-1)).toEqual({
      service: 'demand',
      entityId: 'S1|TENT-40x60',
      query: { from: Date.UTC(2026, 5, 15), to: Date.UTC(2026, 5, 15, 12), limit: 3 },
    });
    r = await call(`/v1/predictions/demand/${e}/history?from=${T0}`);
    expect(r.status).toBe(200);
    expect(calls.range.at(-1)?.query).toEqual({ from: T0, limit: 100 });
    r = await call(`/v1/predictions/demand/${e}/history?to=2026-06-15T12:00`);
    expect(calls.range.at(-1)?.query).toEqual({ to: T0, limit: 100 });
  });

  it.each([
    ['limit=0', /querystring\.limit: must be >= 1/],
    ['limit=-2', /querystring\.limit: must be >= 1/],
    ['limit=abc', /querystring\.limit: must be integer/],
    ['limit=1.5', /querystring\.limit: must be integer/],
    ['limit=5000', /querystring\.limit: must be <= 1000/],
    ['from=yesterday', /from: expected an ISO 8601 date or date-time, or ms since epoch; got 'yesterday'/],
    ['to=2026-02-30', /to: expected an ISO 8601/],
    ['from=2026-06-15T25:00', /from: expected an ISO 8601/],
    [
      'from=2026-06-16&to=2026-06-15',
      /from \(2026-06-16T00:00:00.000Z\) is after to \(2026-06-15T00:00:00.000Z\)/,
    ],
  ])('history: %s is 400 API_BAD_REQUEST', async (query, message) => {
    const { call, calls } = await start();
    const r = await call(`/v1/predictions/demand/x/history?${query}`);
    expect(r.status).toBe(400);
    expect(r.body['error']['code']).toBe('API_BAD_REQUEST');
    expect(r.body['error']['message']).toMatch(message);
    expect(calls.range).toHaveLength(0);
  });
});

describe('alerts', () => {
  it('passes limit (default 50), severity and rule on', async () => {
    const { call, calls } = await start({ alerts: [alert()] });
    let r = await call('/v1/alerts');
    expect(r.status).toBe(200);
    expect(r.body['items']).toEqual([alert()]);
    expect(calls.alerts.at(-1)).toEqual({ limit: 50 });
    r = await call('/v1/alerts?limit=5&severity=critical&rule=restock_shortfall');
    expect(r.status).toBe(200);
    expect(calls.alerts.at(-1)).toEqual({ limit: 5, severity: 'critical', rule: 'restock_shortfall' });
  });

  it('400 for an unknown severity, naming the allowed ones', async () => {
    const { call } = await start();
    const r = await call('/v1/alerts?severity=panic');
    expect(r.status).toBe(400);
    expect(r.body['error']).toEqual({
      code: 'API_BAD_REQUEST',
      message: 'querystring.severity: must be one of info, warning, critical',
    });
  });
});

describe('features', () => {
  it('parses name and name@window, dropping duplicates', async () => {
    const { call, calls } = await start();
    const r = await call('/v1/features/S1%7CTENT?features=available_stock,rentals@1h,available_stock');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ entity_id: 'S1|TENT', features: { available_stock: 1, 'rentals@1h': 1 } });
    expect(calls.features[0]?.refs).toEqual([{ name: 'available_stock' }, { name: 'rentals', window: '1h' }]);
  });

  it.each([
    ['', /querystring: must have required property 'features'/],
    ['?features=', /querystring.features: must NOT have fewer than 1 characters/],
    ['?features=,,', /features: expected a comma-separated list/],
    ['?features=a%20b', /features: 'a b' is not a feature name/],
    ['?features=rentals@', /features: 'rentals@' is not a feature name/],
  ])('%s is 400', async (query, message) => {
    const { call } = await start();
    const r = await call(`/v1/features/x${query}`);
    expect(r.status).toBe(400);
    expect(r.body['error']['code']).toBe('API_BAD_REQUEST');
    expect(r.body['error']['message']).toMatch(message);
  });
});

describe('models', () => {
  it('lists models in snake_case, without the ONNX bytes', async () => {
    const { call } = await start();
    const r = await call('/v1/models?service=demand');
    expect(r.status).toBe(200);
    expect(r.body['items']).toEqual([
      {
        service: 'demand',
        version: MODEL.version,
        algorithm: 'linear',
        status: 'production',
        sha256: MODEL.sha256,
        feature_names: ['x'],
        metrics: { mae: 1.5 },
        validation_score: 1.5,
        notes: null,
        created_at: T0,
        promoted_at: T0 + 1,
        onnx_bytes: 123,
      },
    ]);
    expect((await call('/v1/models?service=pricing')).body['items']).toEqual([]);
  });

  it('shows one version with its spec and no onnx; 404 MODEL_NOT_FOUND for an unknown one', async () => {
    const { call } = await start();
    const r = await call(`/v1/models/demand/${MODEL.version}`);
    expect(r.status).toBe(200);
    expect(at(r.body, 'spec', 'estimator')).toEqual({
      kind: 'linear-regressor',
      coefficients: [2],
      intercept: 1,
    });
    expect(r.body).not.toHaveProperty('onnx');
    const missing = await call('/v1/models/demand/demand-nope');
    expect(missing.status).toBe(404);
    expect(missing.body['error']['code']).toBe('MODEL_NOT_FOUND');
  });
});

describe('dlq replay', () => {
  it('defaults the body, and an empty POST is the same as {}', async () => {
    const { call, calls } = await start();
    expect((await call('/v1/dlq/rfid.scans/replay', post({}))).status).toBe(200);
    expect((await call('/v1/dlq/rfid.scans/replay', { method: 'POST' })).status).toBe(200);
    expect(calls.replay).toEqual([
      { sourceTopic: 'rfid.scans', request: { limit: 100_000, dryRun: false } },
      { sourceTopic: 'rfid.scans', request: { limit: 100_000, dryRun: false } },
    ]);
    const r = await call(
      '/v1/dlq/rfid.scans/replay',
      post({ codes: ['UNKNOWN_STORE'], limit: 5, dryRun: true }),
    );
    expect(r.body['dry_run']).toBe(true);
    expect(calls.replay.at(-1)?.request).toEqual({ codes: ['UNKNOWN_STORE'], limit: 5, dryRun: true });
  });

  it.each([
    [{ limit: 0 }, /body.limit: must be >= 1/],
    [{ limit: 'many' }, /body.limit: must be integer/],
    [{ codes: 'UNKNOWN_STORE' }, /body.codes: must be array/],
    [{ codes: [] }, /body.codes: must NOT have fewer than 1 items/],
    [{ codes: ['bad code'] }, /body.codes.0: must match pattern/],
    [{ dryrun: true }, /body: unknown property 'dryrun'/],
  ])('body %j is 400', async (body, message) => {
    const { call, calls } = await start();
    const r = await call('/v1/dlq/rfid.scans/replay', post(body));
    expect(r.status).toBe(400);
    expect(r.body['error']['code']).toBe('API_BAD_REQUEST');
    expect(r.body['error']['message']).toMatch(message);
    expect(calls.replay).toHaveLength(0);
  });

  it('400 for malformed JSON and for a topic name Kafka would not accept; 404 for a topic without a DLQ', async () => {
    const { call } = await start();
    const bad = await call('/v1/dlq/rfid.scans/replay', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"limit":',
    });
    expect(bad.status).toBe(400);
    expect(bad.body['error']['code']).toBe('API_BAD_REQUEST');
    const topic = await call(`/v1/dlq/${encodeURIComponent('rfid scans!')}/replay`, post({}));
    expect(topic.status).toBe(400);
    expect(topic.body['error']['message']).toMatch(/params.sourceTopic: must match pattern/);
    const missing = await call('/v1/dlq/missing/replay', post({}));
    expect(missing.status).toBe(404);
    expect(missing.body['error']['code']).toBe('DLQ_NOT_FOUND');
  });
});

describe('errors', () => {
  it('unknown routes and methods are 404 API_NOT_FOUND in JSON', async () => {
    const { call } = await start();
    for (const [path, init] of [
      ['/v2/predictions', {}],
      ['/v1/alerts?x=1', { method: 'DELETE' }],
      ['/v1/dlq', { method: 'POST' }],
    ] as const) {
      const r = await call(path, init);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      expect(r.body['error']['code']).toBe('API_NOT_FOUND');
    }
  });

  it('a dependency that is down is 503 with its code; anything unexpected is 500 INTERNAL without its text', async () => {
    const down = await start({
      cacheError: new TagstreamError('REDIS_UNAVAILABLE', 'Redis at x is not reachable'),
    });
    let r = await down.call('/v1/alerts');
    expect(r.status).toBe(503);
    expect(r.body['error']).toEqual({ code: 'REDIS_UNAVAILABLE', message: 'Redis at x is not reachable' });
    await running?.close();
    const broken = await start({ cacheError: new Error('secret internals') });
    r = await broken.call('/v1/predictions/demand/x');
    expect(r.status).toBe(500);
    expect(r.body['error']['code']).toBe('INTERNAL');
    expect(r.body['error']['message']).not.toMatch(/secret/);
  });

  it('maps codes to statuses', () => {
    expect(statusOf('API_BAD_REQUEST')).toBe(400);
    expect(statusOf('API_UNAUTHORIZED')).toBe(401);
    expect(statusOf('UNKNOWN_SERVICE')).toBe(404);
    expect(statusOf('MODEL_NOT_FOUND')).toBe(404);
    expect(statusOf('KAFKA_UNAVAILABLE')).toBe(503);
    expect(statusOf('MYSQL_ERROR')).toBe(500);
    expect(toErrorResponse(Object.assign(new Error('too big'), { statusCode: 413 })).status).toBe(413);
    expect(validationMessage('querystring', [{ instancePath: '/limit', message: 'must be >= 1' }])).toBe(
      'querystring.limit: must be >= 1',
    );
  });
});

describe('bearer token', () => {
  it('guards every route but /healthz, /readyz and /openapi.json', async () => {
    const { call } = await start({ token: TOKEN });
    for (const path of ['/healthz', '/readyz', '/openapi.json'])
      expect((await call(path)).status, path).toBe(200);
    const guarded = [
      '/v1/predictions/demand/S1%7CTENT-40x60',
      '/v1/predictions/demand/x/history',
      '/v1/alerts',
      '/v1/features/x?features=a',
      '/v1/models',
      `/v1/models/demand/${MODEL.version}`,
      '/v1/dlq',
    ];
    for (const path of guarded) {
      const none = await call(path);
      expect(none.status, path).toBe(401);
      expect(none.body['error']['code']).toBe('API_UNAUTHORIZED');
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tagstream"');
      const wrong = await call(path, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status, path).toBe(401);
      const basic = await call(path, { headers: { authorization: `Basic ${TOKEN}` } });
      expect(basic.status, path).toBe(401);
      const right = await call(path, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(right.status, path).toBe(200);
    }
    const replay = await call('/v1/dlq/rfid.scans/replay', post({}));
    expect(replay.status).toBe(401);
    // Unknown routes do not reveal themselves without the token.
    expect((await call('/v1/nothing')).status).toBe(401);
    const auth = { headers: { authorization: `bearer ${TOKEN}` } };
    expect((await call('/v1/nothing', auth)).status).toBe(404);
  });

  it('scopes tokens: the read token reads, only the admin token lists and replays dead letters (403)', async () => {
    const { call, calls } = await start({ token: TOKEN, read: READ });
    const as = (token: string, init: RequestInit = {}): RequestInit => ({
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
    });
    for (const path of ['/v1/alerts', '/v1/models', '/v1/predictions/demand/S1%7CTENT-40x60'])
      expect((await call(path, as(READ))).status, path).toBe(200);
    const list = await call('/v1/dlq', as(READ));
    expect(list.status).toBe(403);
    expect(list.body['error']['code']).toBe('API_FORBIDDEN');
    const replay = await call('/v1/dlq/rfid.scans/replay', as(READ, post({})));
    expect(replay.status).toBe(403);
    expect(replay.body['error']['message']).toMatch(/needs the admin token/);
    expect(calls.replay).toEqual([]);
    expect((await call('/v1/dlq', as(TOKEN))).status).toBe(200);
    expect((await call('/v1/dlq/rfid.scans/replay', as(TOKEN, post({})))).status).toBe(200);
    expect(calls.replay).toHaveLength(1);
  });

  it('grants by comparing digests of both tokens, never an empty token', () => {
    const tokens = { admin: TOKEN, read: READ };
    expect(grantOf(TOKEN, tokens)).toBe('admin');
    expect(grantOf(READ, tokens)).toBe('read');
    expect(grantOf('nope', tokens)).toBeUndefined();
    expect(grantOf(undefined, tokens)).toBeUndefined();
    expect(grantOf('', { admin: TOKEN, read: '' })).toBeUndefined();
    expect(grantOf(READ, { admin: '', read: READ })).toBe('read');
  });

  it('checks the token before validating the request', async () => {
    const { call } = await start({ token: TOKEN });
    expect((await call('/v1/alerts?limit=0')).status).toBe(401);
    expect((await call('/v1/predictions/weather/x')).status).toBe(401);
  });
});

describe('/openapi.json', () => {
  it('documents every route with its parameters, responses and security, and every $ref resolves', async () => {
    const { call } = await start();
    const r = await call('/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc['openapi']).toBe('3.1.0');
    expect(Object.keys(at(doc, 'paths') as object).sort()).toEqual([
      '/healthz',
      '/openapi.json',
      '/readyz',
      '/v1/alerts',
      '/v1/dlq',
      '/v1/dlq/{sourceTopic}/replay',
      '/v1/features/{entityId}',
      '/v1/models',
      '/v1/models/{service}/{version}',
      '/v1/predictions/{service}/{entityId}',
      '/v1/predictions/{service}/{entityId}/history',
    ]);
    const history = at(doc, 'paths', '/v1/predictions/{service}/{entityId}/history', 'get');
    const params = at(history, 'parameters') as Array<{ name: string; in: string }>;
    expect(params.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:service',
      'path:entityId',
      'query:from',
      'query:to',
      'query:limit',
    ]);
    expect(at(history, 'security')).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(at(history, 'responses') as object)).toEqual([
      '200',
      '400',
      '401',
      '404',
      '429',
      '503',
    ]);
    expect(
      at(
        history,
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
        'properties',
        'items',
        'items',
      ),
    ).toEqual({
      $ref: '#/components/schemas/Prediction',
    });
    expect(at(doc, 'paths', '/healthz', 'get', 'security')).toEqual([]);
    const replay = at(doc, 'paths', '/v1/dlq/{sourceTopic}/replay', 'post');
    expect(at(replay, 'requestBody', 'content', 'application/json', 'schema')).toEqual({
      $ref: '#/components/schemas/ReplayRequest',
    });
    expect(at(replay, 'description')).toMatch(/dlq-replay/);
    expect(at(replay, 'x-scope')).toBe('admin');
    expect(Object.keys(at(replay, 'responses') as object)).toContain('403');
    expect(at(history, 'x-scope')).toBe('read');
    // Every $ref points at a component.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of new Set(refs))
      expect(at(doc, 'components', 'schemas')).toHaveProperty(ref.split('/').at(-1)!);
    expect(at(doc, 'components', 'schemas', 'DlqSummary', 'properties', 'topics', 'items')).toEqual({
      $ref: '#/components/schemas/DlqTopicSummary',
    });
  });
});

describe('limits', () => {
  it('rate-limits per token, not the health routes, with 429 API_RATE_LIMITED and Retry-After', async () => {
    const { call } = await start({ token: TOKEN, read: READ, rateLimitPerMinute: 3 });
    const as = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) expect((await call('/v1/models', as(READ))).status).toBe(200);
    const over = await call('/v1/models', as(READ));
    expect(over.status).toBe(429);
    expect(over.body['error']['code']).toBe('API_RATE_LIMITED');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another token has its own budget; probes are never limited.
    expect((await call('/v1/models', as(TOKEN))).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await call('/healthz')).status).toBe(200);
  });

  it('refuses a body over api.bodyLimitBytes with 413 API_PAYLOAD_TOO_LARGE, before the handler', async () => {
    const { call, calls } = await start({ bodyLimitBytes: 100 });
    const big = await call('/v1/dlq/rfid.scans/replay', post({ codes: ['X'.repeat(200)] }));
    expect(big.status).toBe(413);
    expect(big.body['error']['code']).toBe('API_PAYLOAD_TOO_LARGE');
    expect(calls.replay).toEqual([]);
  });
});

describe('HTTPS', () => {
  it('serves over TLS with the configured certificate and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tagstream-api-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const { deps } = fakeDeps();
    running = createApi(deps, {
      host: '127.0.0.1',
      port: 0,
      tokens: { admin: '', read: '' },
      rateLimitPerMinute: 0,
      bodyLimitBytes: 65_536,
      tls: { cert: readFileSync(cert), key: readFileSync(key) },
    });
    const port = await running.listen();
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(cert) },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ status: 'ok' });
    // Plain HTTP to the TLS port gets no API answer.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
