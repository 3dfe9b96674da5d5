// The OAUTHBEARER token provider for kafkajs (src/io/kafka/oauth.ts) against a local token endpoint: the request it
// sends, its cache and refresh, and the coded errors of a refused client and of an endpoint that is down.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { oauthBearerProvider, refreshMargin, type OAuthSettings } from '../../src/io/kafka/oauth.ts';
import { rejectionOf } from '../helpers/errors.ts';

const SECRET = 'oauth-s3cret-4b1e/+x';

interface Seen {
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
}

type Answer = (n: number) => { status: number; body: unknown; delayMs?: number };

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function tokenEndpoint(answer: Answer): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      const a = answer(seen.length);
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.body));
      }, a.delayMs ?? 0);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`, seen };
}

const settings = (url: string, extra: Partial<OAuthSettings> = {}): OAuthSettings => ({
  tokenEndpointUrl: url,
  clientId: 'tagstream-client',
  clientSecret: SECRET,
  scope: '',
  extensions: {},
  ...extra,
});

const token = (n: number, expiresIn = 3600) => ({
  status: 200,
  body: { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: expiresIn },
});

describe('oauthBearerProvider', () => {
  it('POSTs grant_type=client_credentials and the scope with HTTP basic auth of the client', async () => {
    const { url, seen } = await tokenEndpoint((n) => token(n));
    const provide = oauthBearerProvider(
      settings(url, {
        scope: 'kafka openid',
        extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-2' },
      }),
    );
    expect(await provide()).toEqual({
      value: 'tok-1',
      extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-2' },
    });
    expect(seen).toHaveLength(1);
    const params = new URLSearchParams(seen[0]!.body);
    expect(Object.fromEntries(params)).toEqual({ grant_type: 'client_credentials', scope: 'kafka openid' });
    expect(seen[0]!.contentType).toBe('application/x-www-form-urlencoded');
    const [scheme, b64] = seen[0]!.authorization!.split(' ');
    expect(scheme).toBe('Basic');
    // RFC 6749 §2.3.1: id and secret form-urlencoded, then joined by ':'.
    const [id, secret] = Buffer.from(b64!, 'base64').toString().split(':');
    expect(decodeURIComponent(id!)).toBe('tagstream-client');
    expect(decodeURIComponent(secret!.replaceAll('+', ' '))).toBe(SECRET);
  });

  it('sends no scope when none is set and no extensions when none are set', async () => {
    const { url, seen } = await tokenEndpoint((n) => token(n));
    expect(await oauthBearerProvider(settings(url))()).toEqual({ value: 'tok-1' });
    expect(seen[0]!.body).toBe('grant_type=client_credentials');
  });

  it('caches the token: one request for several calls, also concurrent ones', async () => {
    const { url, seen } = await tokenEndpoint((n) => ({ ...token(n), delayMs: 50 }));
    const provide = oauthBearerProvider(settings(url));
    const first = await Promise.all([provide(), provide(), provide()]);
    expect(first.map((t) => t.value)).toEqual(['tok-1', 'tok-1', 'tok-1']);
    expect((await provide()).value).toBe('tok-1');
    expect(seen).toHaveLength(1);
  });

  it('fetches a new token once the old one is within its margin of expiry', async () => {
    const { url, seen } = await tokenEndpoint((n) => token(n, 600));
    let now = 1_000_000;
    const provide = oauthBearerProvider(settings(url), { now: () => now });
    expect((await provide()).value).toBe('tok-1');
    // 600 s lifetime, 60 s margin: still the same token at 539 s, a new one at 540 s.
    expect(refreshMargin(600_000)).toBe(60_000);
    now += 539_000;
    expect((await provide()).value).toBe('tok-1');
    now += 1_000;
    expect((await provide()).value).toBe('tok-2');
    expect(seen).toHaveLength(2);
  });

  it('a short-lived token is refreshed after 90% of its life', async () => {
    const { url } = await tokenEndpoint((n) => token(n, 10));
    let now = 0;
    const provide = oauthBearerProvider(settings(url), { now: () => now });
    expect((await provide()).value).toBe('tok-1');
    now = 8_999;
    expect((await provide()).value).toBe('tok-1');
    now = 9_000;
    expect((await provide()).value).toBe('tok-2');
  });

  it.each([401, 400])(
    '%i: KAFKA_AUTH_FAILED naming the endpoint and the client, not the secret',
    async (status) => {
      const { url } = await tokenEndpoint(() => ({
        status,
        body: { error: 'invalid_client', error_description: `bad secret ${SECRET}` },
      }));
      const e = await rejectionOf(oauthBearerProvider(settings(url))());
      expect(e.code).toBe('KAFKA_AUTH_FAILED');
      expect(e.retryable).toBe(false);
      expect(e.message).toContain(url);
      expect(e.message).toContain('tagstream-client');
      expect(e.message).toContain(`HTTP ${status} invalid_client`);
      expect(e.message).not.toContain(SECRET);
      expect(JSON.stringify(e.details)).not.toContain(SECRET);
    },
  );

  it('a refused request is not cached: the next call asks again', async () => {
    const { url, seen } = await tokenEndpoint((n) => (n === 1 ? { status: 401, body: {} } : token(n)));
    const provide = oauthBearerProvider(settings(url));
    expect((await rejectionOf(provide())).code).toBe('KAFKA_AUTH_FAILED');
    expect((await provide()).value).toBe('tok-2');
    expect(seen).toHaveLength(2);
  });

  it('5xx: KAFKA_UNAVAILABLE, retryable', async () => {
    const { url } = await tokenEndpoint(() => ({ status: 503, body: {} }));
    const e = await rejectionOf(oauthBearerProvider(settings(url))());
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
  });

  it('an answer without access_token is KAFKA_AUTH_FAILED', async () => {
    const { url } = await tokenEndpoint(() => ({ status: 200, body: { hello: 'world' } }));
    const e = await rejectionOf(oauthBearerProvider(settings(url))());
    expect(e.code).toBe('KAFKA_AUTH_FAILED');
    expect(e.message).toContain('without an access_token');
  });

  it('an endpoint that is down: KAFKA_UNAVAILABLE, retryable, naming the endpoint', async () => {
    const { url } = await tokenEndpoint((n) => token(n));
    await new Promise((r) => servers.pop()!.close(r));
    const e = await rejectionOf(oauthBearerProvider(settings(url))());
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(url);
    expect(e.message).toContain('tagstream-client');
    expect(e.message).not.toContain(SECRET);
  });

  it('an endpoint that does not answer in time: KAFKA_UNAVAILABLE', async () => {
    const { url } = await tokenEndpoint((n) => ({ ...token(n), delayMs: 2_000 }));
    const e = await rejectionOf(oauthBearerProvider(settings(url), { timeoutMs: 100 })());
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
  });
});
