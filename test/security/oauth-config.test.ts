// kafka.sasl.mechanism OAUTHBEARER: the config keys and KAFKA_OAUTH_* variables, their validation (errors name the
// key), the client secret read from its file and redacted, and what each client gets (kafkajs's provider,
// librdkafka's built-in OIDC properties).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, redactConfig } from '../../config/load.ts';
import { TagstreamError } from '../../src/errors.ts';
import {
  kafkajsSecurityOptions,
  librdkafkaSecurityOptions,
  secretsOf,
  securityError,
  securityFrom,
} from '../../src/io/kafka/security.ts';
import { thrownBy } from '../helpers/errors.ts';
import { secretFile } from '../helpers/secrets.ts';

const SECRET = 'oauth-cl1ent-s3cret-e2d';
const ENDPOINT = 'https://idp.example.com/oauth2/token';

const ENV = {
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
  KAFKA_OAUTH_TOKEN_ENDPOINT_URL: ENDPOINT,
  KAFKA_OAUTH_CLIENT_ID: 'tagstream-client',
  KAFKA_OAUTH_SCOPE: 'kafka',
  KAFKA_OAUTH_EXTENSIONS: 'logicalCluster=lkc-abc12, identityPoolId=pool-XyZ',
};

describe('OAUTHBEARER config', () => {
  it('takes the KAFKA_OAUTH_* variables, the secret from its file', (ctx) => {
    const c = loadConfig({ ...ENV, KAFKA_OAUTH_CLIENT_SECRET_FILE: secretFile(ctx, `${SECRET}\n`) });
    expect(c.kafka.sasl.oauth?.clientSecret).toBe(SECRET);
    expect(securityFrom(c.kafka)).toEqual({
      protocol: 'SASL_SSL',
      sasl: {
        mechanism: 'OAUTHBEARER',
        username: 'tagstream-client',
        password: '',
        oauth: {
          tokenEndpointUrl: ENDPOINT,
          clientId: 'tagstream-client',
          clientSecret: SECRET,
          scope: 'kafka',
          extensions: { logicalCluster: 'lkc-abc12', identityPoolId: 'pool-XyZ' },
        },
      },
      ssl: { caFile: '', certFile: '', keyFile: '', keyPassword: '' },
    });
    // A loaded config parsed again keeps the same secret without complaint.
    expect(parseConfig(c).kafka.sasl.oauth?.clientSecret).toBe(SECRET);
  });

  it('takes the keys from YAML / TAGSTREAM__ too, no username or password needed', () => {
    const c = parseConfig({
      kafka: {
        security: { protocol: 'SASL_PLAINTEXT' },
        sasl: {
          mechanism: 'OAUTHBEARER',
          oauth: { tokenEndpointUrl: ENDPOINT, clientId: 'c', clientSecret: SECRET },
        },
      },
    });
    expect(c.kafka.sasl.oauth).toEqual({
      tokenEndpointUrl: ENDPOINT,
      clientId: 'c',
      clientSecret: SECRET,
      clientSecretFile: '',
      scope: '',
      extensions: {},
    });
  });

  const oauth = { tokenEndpointUrl: ENDPOINT, clientId: 'c', clientSecret: 's' };
  it.each([
    [
      { sasl: { mechanism: 'OAUTHBEARER', oauth } },
      'kafka.security.protocol: is PLAINTEXT, but SASL credentials',
    ],
    [
      { security: { protocol: 'SSL' }, sasl: { mechanism: 'OAUTHBEARER', oauth } },
      'kafka.security.protocol: is SSL, but SASL credentials',
    ],
    [
      { security: { protocol: 'SASL_SSL' }, sasl: { mechanism: 'OAUTHBEARER' } },
      'kafka.sasl.oauth.tokenEndpointUrl: needed with SASL_SSL',
    ],
    [
      {
        security: { protocol: 'SASL_SSL' },
        sasl: { mechanism: 'OAUTHBEARER', oauth: { ...oauth, clientId: '' } },
      },
      'kafka.sasl.oauth.clientId: needed',
    ],
    [
      {
        security: { protocol: 'SASL_SSL' },
        sasl: { mechanism: 'OAUTHBEARER', oauth: { ...oauth, clientSecret: '' } },
      },
      'kafka.sasl.oauth.clientSecret: needed with SASL_SSL and kafka.sasl.mechanism OAUTHBEARER (or kafka.sasl.oauth.clientSecretFile)',
    ],
    [
      {
        security: { protocol: 'SASL_SSL' },
        sasl: { mechanism: 'OAUTHBEARER', oauth: { ...oauth, tokenEndpointUrl: 'idp.example.com/token' } },
      },
      'kafka.sasl.oauth.tokenEndpointUrl: expected an http(s):// URL',
    ],
    [
      {
        security: { protocol: 'SASL_SSL' },
        sasl: { mechanism: 'OAUTHBEARER', oauth: { ...oauth, extensions: { 'logical-cluster': 'x' } } },
      },
      'kafka.sasl.oauth.extensions.logical-cluster',
    ],
    [
      { security: { protocol: 'SASL_SSL' }, sasl: { username: 'u', password: 'p', oauth } },
      'kafka.sasl.mechanism: is SCRAM-SHA-512, but kafka.sasl.oauth is set',
    ],
  ])('rejects %j naming the key', (kafka, message) => {
    const e = thrownBy(() => parseConfig({ kafka }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(message);
  });

  it('a missing secret file, or a different value beside it, is CONFIG_INVALID naming the key', (ctx) => {
    const missing = thrownBy(() => loadConfig({ ...ENV, KAFKA_OAUTH_CLIENT_SECRET_FILE: '/nonexistent/s' }));
    expect(missing.message).toContain(
      'kafka.sasl.oauth.clientSecretFile: cannot read /nonexistent/s (ENOENT)',
    );
    const both = thrownBy(() =>
      loadConfig({
        ...ENV,
        KAFKA_OAUTH_CLIENT_SECRET: 'other',
        KAFKA_OAUTH_CLIENT_SECRET_FILE: secretFile(ctx, SECRET),
      }),
    );
    expect(both.message).toContain(
      'set kafka.sasl.oauth.clientSecret or kafka.sasl.oauth.clientSecretFile, not both',
    );
    expect(both.message).not.toContain(SECRET);
  });

  it('redactConfig hides the client secret and keeps the rest', () => {
    const c = loadConfig({ ...ENV, KAFKA_OAUTH_CLIENT_SECRET: SECRET });
    const r = redactConfig(c);
    expect(r.kafka.sasl.oauth?.clientSecret).toBe('***');
    expect(r.kafka.sasl.oauth?.clientId).toBe('tagstream-client');
    expect(JSON.stringify(r)).not.toContain(SECRET);
    expect(c.kafka.sasl.oauth?.clientSecret).toBe(SECRET);
    expect(secretsOf(securityFrom(c.kafka))).toContain(SECRET);
  });
});

describe('OAUTHBEARER clients', () => {
  const security = () => securityFrom(loadConfig({ ...ENV, KAFKA_OAUTH_CLIENT_SECRET: SECRET }).kafka);

  it('confluent: librdkafka built-in OIDC properties', () => {
    expect(librdkafkaSecurityOptions(security())).toEqual({
      'security.protocol': 'sasl_ssl',
      'sasl.mechanisms': 'OAUTHBEARER',
      'sasl.oauthbearer.method': 'oidc',
      'sasl.oauthbearer.token.endpoint.url': ENDPOINT,
      'sasl.oauthbearer.client.id': 'tagstream-client',
      'sasl.oauthbearer.client.secret': SECRET,
      'sasl.oauthbearer.scope': 'kafka',
      'sasl.oauthbearer.extensions': 'logicalCluster=lkc-abc12,identityPoolId=pool-XyZ',
    });
  });

  it('confluent: no scope or extensions properties when none are set', () => {
    const s = securityFrom(
      loadConfig({
        ...ENV,
        KAFKA_OAUTH_SCOPE: '',
        KAFKA_OAUTH_EXTENSIONS: '',
        KAFKA_OAUTH_CLIENT_SECRET: SECRET,
      }).kafka,
    );
    const props = librdkafkaSecurityOptions(s);
    expect(props).not.toHaveProperty('sasl.oauthbearer.scope');
    expect(props).not.toHaveProperty('sasl.oauthbearer.extensions');
    expect(props).not.toHaveProperty('sasl.username');
  });

  it('kafkajs: mechanism oauthbearer with a token provider, no username or password', () => {
    const { sasl, ssl } = kafkajsSecurityOptions(security());
    expect(ssl).toEqual({});
    expect(sasl?.mechanism).toBe('oauthbearer');
    expect(sasl && 'oauthBearerProvider' in sasl && typeof sasl.oauthBearerProvider).toBe('function');
    expect(JSON.stringify(sasl)).not.toContain(SECRET);
  });

  it('other mechanisms map as before', () => {
    const s = securityFrom(
      parseConfig({
        kafka: { security: { protocol: 'SASL_SSL' }, sasl: { username: 'u', password: 'pw-1234' } },
      }).kafka,
    );
    expect(kafkajsSecurityOptions(s).sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'u',
      password: 'pw-1234',
    });
    expect(librdkafkaSecurityOptions(s)).toMatchObject({
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'u',
      'sasl.password': 'pw-1234',
    });
  });

  it('a refusal by the token endpoint keeps its own message; a refused token names the OAuth client', () => {
    const refused = new TagstreamError('KAFKA_AUTH_FAILED', 'OAuth token endpoint refused client c', {
      details: { tokenEndpointUrl: ENDPOINT, clientId: 'c' },
    });
    expect(securityError(new Error('wrapped', { cause: refused }), ['b:9092'], security())).toBe(refused);
    const e = securityError(
      { name: 'KafkaJSSASLAuthenticationError', message: `SASL OAUTHBEARER authentication failed ${SECRET}` },
      ['b:9092'],
      security(),
    );
    expect(e?.code).toBe('KAFKA_AUTH_FAILED');
    expect(e?.message).toContain('refused the OAuth token of client tagstream-client');
    expect(e?.message).not.toContain(SECRET);
  });
});

describe('--print-config with OAUTHBEARER', () => {
  it('pipeline: no client secret, by value or by file', { timeout: 60_000 }, async (ctx) => {
    const run = promisify(execFile);
    const print = async (env: Record<string, string>) => {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--import', 'tsx', 'src/cli/pipeline.ts', '--print-config'],
        { env: { ...process.env, ...ENV, ...env }, timeout: 60_000 },
      );
      return stdout + stderr;
    };
    const file = secretFile(ctx, `${SECRET}-file\n`);
    const byValue = await print({ KAFKA_OAUTH_CLIENT_SECRET: SECRET });
    const byFile = await print({ KAFKA_OAUTH_CLIENT_SECRET_FILE: file });
    expect(byValue).toContain('"clientSecret": "***"');
    expect(byValue).toContain('"clientId": "tagstream-client"');
    expect(byFile).toContain(file);
    for (const out of [byValue, byFile]) expect(out).not.toContain(SECRET);
  });
});
