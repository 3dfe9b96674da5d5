// The SASL OAUTHBEARER token provider for kafkajs: OIDC client credentials (RFC 6749 §4.4) against a token endpoint,
// as a managed Kafka (Confluent Cloud) expects. Written by hand: no maintained library does client credentials for
// kafkajs's oauthBearerProvider (the confluent client uses librdkafka's built-in OIDC instead, security.ts).
import { TagstreamError } from '../../errors.ts';

export interface OAuthSettings {
  readonly tokenEndpointUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Empty: no scope parameter. */
  readonly scope: string;
  /** SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId). */
  readonly extensions: Readonly<Record<string, string>>;
}

/** What kafkajs's oauthBearerProvider returns; kafkajs sends `extensions` too, though its types omit them. */
export interface OAuthBearerToken {
  readonly value: string;
  readonly extensions?: Record<string, string>;
}

export interface OAuthProviderOptions {
  /** Milliseconds since the epoch; tests drive a fake clock. */
  readonly now?: () => number;
  /** A request that takes longer is KAFKA_UNAVAILABLE. */
  readonly timeoutMs?: number;
}

/** Lifetime assumed when the endpoint sends no expires_in (RFC 6749 makes it optional). */
const DEFAULT_LIFETIME_S = 300;

/** How long before its expiry a token is replaced: 10% of its lifetime, at most 60 s. */
export const refreshMargin = (lifetimeMs: number): number => Math.min(60_000, lifetimeMs * 0.1);

/** The form body of a client-credentials token request (the credentials go in the Authorization header). */
export function tokenRequestBody(o: Pick<OAuthSettings, 'scope'>): string {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (o.scope) body.set('scope', o.scope);
  return body.toString();
}

/** RFC 6749 §2.3.1: HTTP basic auth of the form-urlencoded client id and secret. */
export function basicAuth(o: Pick<OAuthSettings, 'clientId' | 'clientSecret'>): string {
  const enc = (s: string) => encodeURIComponent(s).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${enc(o.clientId)}:${enc(o.clientSecret)}`).toString('base64')}`;
}

/**
 * kafkajs's oauthBearerProvider for these settings: a token cached until shortly before it expires, one request in
 * flight at a time. A refused request is KAFKA_AUTH_FAILED; an endpoint that cannot be reached (or answers 5xx or
 * 429) is KAFKA_UNAVAILABLE, retryable. Messages name the endpoint and the client id, never the secret.
 */
export function oauthBearerProvider(
  o: OAuthSettings,
  options: OAuthProviderOptions = {},
): () => Promise<OAuthBearerToken> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const extensions = Object.keys(o.extensions).length ? { ...o.extensions } : undefined;
  let cached: { value: string; refreshAt: number } | undefined;
  let inFlight: Promise<OAuthBearerToken> | undefined;
  const who = `${o.clientId} at ${o.tokenEndpointUrl}`;

  async function request(): Promise<OAuthBearerToken> {
    const sentAt = now();
    let res: Response;
    try {
      res = await fetch(o.tokenEndpointUrl, {
        method: 'POST',
        headers: {
          authorization: basicAuth(o),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: tokenRequestBody(o),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const reason = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new TagstreamError(
        'KAFKA_UNAVAILABLE',
        `OAuth token endpoint ${o.tokenEndpointUrl} cannot be reached for client ${o.clientId} (${reason}); ` +
          `check kafka.sasl.oauth.tokenEndpointUrl (KAFKA_OAUTH_TOKEN_ENDPOINT_URL)`,
        {
          cause: e,
          retryable: true,
          details: { tokenEndpointUrl: o.tokenEndpointUrl, clientId: o.clientId },
        },
      );
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      // The error field of RFC 6749 §5.2 (invalid_client, invalid_scope), not the whole body: it might echo input.
      const error = /"error"\s*:\s*"([\w.-]{1,64})"/.exec(text)?.[1];
      const why = `HTTP ${res.status}${error ? ` ${error}` : ''}`;
      if (res.status >= 500 || res.status === 429 || res.status === 408)
        throw new TagstreamError(
          'KAFKA_UNAVAILABLE',
          `OAuth token endpoint ${o.tokenEndpointUrl} failed for client ${o.clientId} (${why})`,
          { retryable: true, details: { tokenEndpointUrl: o.tokenEndpointUrl, clientId: o.clientId } },
        );
      throw new TagstreamError(
        'KAFKA_AUTH_FAILED',
        `OAuth token endpoint refused client ${who} (${why}): check kafka.sasl.oauth.clientId, clientSecret / ` +
          `clientSecretFile and scope (KAFKA_OAUTH_CLIENT_ID, KAFKA_OAUTH_CLIENT_SECRET_FILE, KAFKA_OAUTH_SCOPE)`,
        {
          retryable: false,
          details: { tokenEndpointUrl: o.tokenEndpointUrl, clientId: o.clientId, status: res.status },
        },
      );
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = {};
    }
    if (typeof body.access_token !== 'string' || !body.access_token)
      throw new TagstreamError(
        'KAFKA_AUTH_FAILED',
        `OAuth token endpoint ${o.tokenEndpointUrl} answered client ${o.clientId} without an access_token: ` +
          `is kafka.sasl.oauth.tokenEndpointUrl the token endpoint?`,
        { retryable: false, details: { tokenEndpointUrl: o.tokenEndpointUrl, clientId: o.clientId } },
      );
    const expiresIn = Number(body.expires_in);
    const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_LIFETIME_S) * 1000;
    cached = { value: body.access_token, refreshAt: sentAt + lifetimeMs - refreshMargin(lifetimeMs) };
    return { value: body.access_token, ...(extensions ? { extensions } : {}) };
  }

  return async () => {
    if (cached && now() < cached.refreshAt)
      return { value: cached.value, ...(extensions ? { extensions: { ...extensions } } : {}) };
    inFlight ??= request().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
