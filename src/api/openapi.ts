// The OpenAPI 3.1 document, built from the same route table and JSON Schemas that fastify validates with, so the
// document cannot drift from what the server accepts and returns.
import { ROUTES, API_VERSION, type RouteDef } from './routes.ts';
import { COMPONENTS, type JsonSchema } from './schemas.ts';

export type OpenApiDocument = Readonly<Record<string, unknown>>;

/** Replaces every object that is one of the named components (by identity) with a $ref to it. */
function withRefs(node: unknown, skip?: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => withRefs(n));
  if (node === null || typeof node !== 'object') return node;
  if (node !== skip)
    for (const [name, schema] of Object.entries(COMPONENTS))
      if (schema === node) return { $ref: `#/components/schemas/${name}` };
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withRefs(v)]));
}

export const toOpenApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(route: RouteDef): unknown[] {
  const out: unknown[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.querystring],
  ] as const) {
    if (schema === undefined) continue;
    const required = new Set((schema['required'] as string[] | undefined) ?? []);
    const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
    for (const [name, s] of Object.entries(props)) {
      const { description, ...rest } = s as { description?: string };
      out.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        ...(description === undefined ? {} : { description }),
        schema: withRefs(rest),
      });
    }
  }
  return out;
}

export function buildOpenApi(routes: readonly RouteDef[]): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = toOpenApiPath(r.url);
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description === undefined ? {} : { description: r.description }),
      tags: [r.tag],
      ...(r.scope === 'public' ? { security: [] } : { security: [{ bearerAuth: [] }] }),
      ...(r.scope === 'public' ? {} : { 'x-scope': r.scope }),
      parameters: parameters(r),
      ...(r.body === undefined
        ? {}
        : {
            requestBody: {
              required: false,
              content: { 'application/json': { schema: withRefs(r.body) } },
            },
          }),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, doc]) => [
          status,
          { description: doc.description, content: { 'application/json': { schema: withRefs(doc.schema) } } },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tagstream API',
      version: API_VERSION,
      description:
        'Predictions, alerts, features, models and dead letters of the tagstream pipeline. Times are ms since ' +
        'epoch UTC, as on the topics. Errors are `{"error": {"code", "message"}}` with a code from src/errors.ts. ' +
        'When tokens are configured (api.readToken / API_READ_TOKEN, api.adminToken / API_ADMIN_TOKEN), every ' +
        'route but /healthz, /readyz and /openapi.json needs `Authorization: Bearer <token>`: the read token ' +
        'reads predictions, alerts, features and models; the admin token also reads and replays dead letters ' +
        '(x-scope on each operation). Requests are rate-limited per token (api.rateLimitPerMinute, 429).',
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([name, s]) => [name, withRefs(s, s)])),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
    },
  };
}

let cached: OpenApiDocument | undefined;

export const OPENAPI_ROUTE: RouteDef = {
  method: 'GET',
  url: '/openapi.json',
  operationId: 'openapi',
  summary: 'This document',
  tag: 'health',
  scope: 'public',
  responses: {
    200: {
      description: 'OpenAPI 3.1 document of every route.',
      schema: { type: 'object', additionalProperties: true },
    },
  },
  handler: async () => ({ body: openApiDocument() }),
};

/** Every route the server registers, this document's own included. */
export const ALL_ROUTES: readonly RouteDef[] = [...ROUTES, OPENAPI_ROUTE];

export function openApiDocument(): OpenApiDocument {
  cached ??= buildOpenApi(ALL_ROUTES);
  return cached;
}
