// The REST API server: fastify with the route table of routes.ts, request validation by its JSON Schemas, scoped
// bearer tokens (read, admin), a rate limit per token, a body size limit, optional TLS, coded JSON errors for
// everything that goes wrong, and one debug log line per request.
import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { TagstreamError, isTagstreamError, type ErrorCode } from '../errors.ts';
import { ALL_ROUTES } from './openapi.ts';
import type { ApiDeps, ApiScope, RouteDef } from './routes.ts';

export type { ApiDeps } from './routes.ts';

export interface ApiOptions {
  readonly host: string;
  /** 0 picks a free port; listen() returns the one bound. */
  readonly port: number;
  /**
   * Bearer tokens. When either is set, every route but /healthz, /readyz and /openapi.json needs one: the read
   * token opens the `read` routes, the admin token every route. Both empty: the API is open (loopback use).
   */
  readonly tokens: { readonly read: string; readonly admin: string };
  /** Requests per minute per token (or per client address without one); 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** Largest request body accepted (413 API_PAYLOAD_TOO_LARGE above it). */
  readonly bodyLimitBytes: number;
  /** PEM certificate chain and private key: serve HTTPS instead of HTTP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

export interface Api {
  /** Starts listening; resolves with the port. */
  listen(): Promise<number>;
  /** Stops accepting requests, lets those in flight finish, closes the sockets. */
  close(): Promise<void>;
}

export interface ErrorResponse {
  readonly status: number;
  readonly body: { readonly error: { readonly code: string; readonly message: string } };
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  API_BAD_REQUEST: 400,
  API_UNAUTHORIZED: 401,
  API_FORBIDDEN: 403,
  API_PAYLOAD_TOO_LARGE: 413,
  API_RATE_LIMITED: 429,
  API_NOT_FOUND: 404,
  UNKNOWN_SERVICE: 404,
  PREDICTION_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  DLQ_NOT_FOUND: 404,
};

/** The HTTP status of one of our codes: as listed, 503 for a dependency that is down, else 500. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? (code.endsWith('_UNAVAILABLE') ? 503 : 500);
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { allowedValues?: unknown[]; missingProperty?: string; additionalProperty?: string };
}

/** One line for an ajv issue: `querystring.limit: must be >= 1`, with the allowed values of an enum. */
export function validationMessage(context: string | undefined, issues: readonly ValidationIssue[]): string {
  const i = issues[0] ?? {};
  const path = [context ?? 'request', ...(i.instancePath ?? '').split('/').filter(Boolean)].join('.');
  let message = i.message ?? 'is invalid';
  if (i.keyword === 'enum' && i.params?.allowedValues)
    message = `must be one of ${i.params.allowedValues.join(', ')}`;
  if (i.keyword === 'additionalProperties' && i.params?.additionalProperty)
    message = `unknown property '${i.params.additionalProperty}'`;
  return `${path}: ${message}`;
}

/** Anything thrown while handling a request, as a status and the coded JSON error body. */
export function toErrorResponse(e: unknown): ErrorResponse {
  const body = (code: string, message: string) => ({ error: { code, message } });
  if (isTagstreamError(e)) return { status: statusOf(e.code), body: body(e.code, e.message) };
  const f = e as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(f.validation))
    return {
      status: 400,
      body: body('API_BAD_REQUEST', validationMessage(f.validationContext, f.validation)),
    };
  if (f.statusCode === 413)
    return {
      status: 413,
      body: body('API_PAYLOAD_TOO_LARGE', `${f.message ?? 'request body too large'} (api.bodyLimitBytes)`),
    };
  // fastify's own request errors: bad JSON, wrong content type.
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500)
    return { status: f.statusCode, body: body('API_BAD_REQUEST', f.message ?? 'bad request') };
  return { status: 500, body: body('INTERNAL', 'internal error; the API log has the details') };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The bearer token of a request, or undefined. */
function bearer(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

/**
 * What a presented token may do: `admin`, `read`, or nothing. Both comparisons always run, on equal-length digests,
 * so the time taken says nothing about either token.
 */
export function grantOf(
  presented: string | undefined,
  tokens: ApiOptions['tokens'],
): 'admin' | 'read' | undefined {
  const p = digest(presented ?? '');
  const admin = tokens.admin !== '' && timingSafeEqual(p, digest(tokens.admin)) && presented !== undefined;
  const read = tokens.read !== '' && timingSafeEqual(p, digest(tokens.read)) && presented !== undefined;
  return admin ? 'admin' : read ? 'read' : undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (routes.ts); an unknown route counts as `read`. */
    scope?: ApiScope;
  }
}

/** The rate limit's key: the token's digest (never the token), or the client address without one. */
function rateKey(request: FastifyRequest): string {
  const token = bearer(request.headers.authorization);
  return token === undefined ? `ip:${request.ip}` : `token:${digest(token).toString('hex').slice(0, 16)}`;
}

function register(app: FastifyInstance, route: RouteDef, deps: ApiDeps): void {
  app.route({
    method: route.method,
    url: route.url,
    config: { scope: route.scope },
    schema: {
      ...(route.params === undefined ? {} : { params: route.params }),
      ...(route.querystring === undefined ? {} : { querystring: route.querystring }),
      ...(route.body === undefined ? {} : { body: route.body }),
      response: Object.fromEntries(Object.entries(route.responses).map(([s, doc]) => [s, doc.schema])),
    },
    // A POST without a body is an empty object, so the body schema's defaults apply.
    ...(route.body === undefined
      ? {}
      : {
          preValidation: async (request) => {
            request.body ??= {};
          },
        }),
    handler: async (request, reply) => {
      const res = await route.handler(
        {
          params: (request.params ?? {}) as Record<string, string>,
          query: (request.query ?? {}) as Record<string, unknown>,
          body: request.body,
        },
        deps,
      );
      return reply.status(res.status ?? 200).send(res.body);
    },
  });
}

export function createApi(deps: ApiDeps, options: ApiOptions): Api {
  const { log } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    routerOptions: { maxParamLength: 512 },
    // Fail on unknown body properties instead of silently dropping them; coerce query strings to their scalar types
    // (not to arrays: a string where a list belongs is an error).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true } },
    forceCloseConnections: 'idle',
  });

  const secured = options.tokens.read !== '' || options.tokens.admin !== '';
  app.addHook('onRequest', async (request, reply) => {
    const scope = request.routeOptions.config?.scope ?? 'read';
    if (!secured || scope === 'public') return;
    const grant = grantOf(bearer(request.headers.authorization), options.tokens);
    if (grant === undefined) {
      const { status, body } = toErrorResponse(
        new TagstreamError(
          'API_UNAUTHORIZED',
          'missing or wrong bearer token: send `Authorization: Bearer <token>`',
        ),
      );
      return reply.status(status).header('www-authenticate', 'Bearer realm="tagstream"').send(body);
    }
    if (scope === 'admin' && grant !== 'admin') {
      const { status, body } = toErrorResponse(
        new TagstreamError(
          'API_FORBIDDEN',
          `${request.method} ${request.routeOptions.url} needs the admin token (api.adminToken); this is the read token`,
        ),
      );
      return reply.status(status).send(body);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    log.debug(
      {
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const res = toErrorResponse(error);
    if (res.status >= 500)
      log[res.status === 503 ? 'warn' : 'error'](
        { err: error, method: request.method, url: request.url },
        'request failed',
      );
    return reply.status(res.status).send(res.body);
  });

  app.setNotFoundHandler(async (request, reply) => {
    const { status, body } = toErrorResponse(
      new TagstreamError(
        'API_NOT_FOUND',
        `no route ${request.method} ${request.url.split('?')[0]}; see /openapi.json`,
      ),
    );
    return reply.status(status).send(body);
  });

  const ready = (async () => {
    if (options.rateLimitPerMinute > 0)
      await app.register(rateLimit, {
        global: true,
        max: options.rateLimitPerMinute,
        timeWindow: 60_000,
        keyGenerator: rateKey,
        // Health checks and the document stay reachable for probes.
        allowList: (request) => request.routeOptions.config?.scope === 'public',
        errorResponseBuilder: (_request, context) =>
          Object.assign(
            new TagstreamError(
              'API_RATE_LIMITED',
              `more than ${context.max} requests a minute from this token or address; retry in ${Math.ceil(context.ttl / 1000)} s (api.rateLimitPerMinute)`,
            ),
            { statusCode: 429 },
          ),
      });
    for (const route of ALL_ROUTES) register(app, route, deps);
  })();

  return {
    async listen() {
      await ready;
      await app.listen({ host: options.host, port: options.port });
      const address = app.server.address();
      return typeof address === 'object' && address !== null ? address.port : options.port;
    },
    async close() {
      await app.close();
    },
  };
}
