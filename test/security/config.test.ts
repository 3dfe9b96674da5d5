// The Kafka security keys: validated together (errors name the key), secrets read from files (`*File` keys and
// `*_FILE` variables, as Docker secrets), and redacted wherever the config is printed.
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, redactConfig } from '../../config/load.ts';
import { securityFrom } from '../../src/io/kafka/security.ts';
import { thrownBy } from '../helpers/errors.ts';
import { secretFile } from '../helpers/secrets.ts';

const PASSWORD = 'kafka-s3cret-9f2';
const KEY_PASSWORD = 'key-s3cret-77a';

describe('kafka security config', () => {
  it('defaults to PLAINTEXT without credentials', () => {
    const { kafka } = parseConfig({});
    expect(kafka.security.protocol).toBe('PLAINTEXT');
    expect(kafka.sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: '', password: '', passwordFile: '' });
    expect(securityFrom(kafka)).toEqual({ protocol: 'PLAINTEXT' });
  });

  it('takes the KAFKA_* variables', () => {
    const c = loadConfig({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_USERNAME: 'tagstream',
      KAFKA_SASL_PASSWORD: PASSWORD,
      KAFKA_SSL_CA_FILE: '/ca.pem',
      KAFKA_SSL_CERT_FILE: '/c.pem',
      KAFKA_SSL_KEY_FILE: '/k.pem',
      KAFKA_SSL_KEY_PASSWORD: KEY_PASSWORD,
    });
    expect(securityFrom(c.kafka)).toEqual({
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'tagstream', password: PASSWORD },
      ssl: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', keyPassword: KEY_PASSWORD },
    });
  });

  it.each([
    [{ security: { protocol: 'SASL_SSL' } }, 'kafka.sasl.username: needed with SASL_SSL'],
    [
      { security: { protocol: 'SASL_SSL' }, sasl: { username: 'u' } },
      'kafka.sasl.password: needed with SASL_SSL',
    ],
    [
      { sasl: { username: 'u', password: 'p' } },
      'kafka.security.protocol: is PLAINTEXT, but SASL credentials',
    ],
    [
      {
        security: { protocol: 'SASL_PLAINTEXT' },
        sasl: { username: 'u', password: 'p' },
        ssl: { caFile: '/x' },
      },
      'but kafka.ssl files are set',
    ],
    [{ security: { protocol: 'SSL' }, ssl: { certFile: '/c.pem' } }, 'kafka.ssl.keyFile: mTLS needs both'],
    [{ security: { protocol: 'TLS' } }, 'kafka.security.protocol'],
    [
      { security: { protocol: 'SASL_SSL' }, sasl: { mechanism: 'GSSAPI', username: 'u', password: 'p' } },
      'kafka.sasl.mechanism',
    ],
  ])('rejects %j naming the key', (kafka, message) => {
    const e = thrownBy(() => parseConfig({ kafka }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(message);
  });
});

describe('secrets from files', () => {
  it('KAFKA_SASL_PASSWORD_FILE and KAFKA_SSL_KEY_PASSWORD_FILE are read once, a trailing newline dropped', (ctx) => {
    const c = loadConfig({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_USERNAME: 'tagstream',
      KAFKA_SASL_PASSWORD_FILE: secretFile(ctx, `${PASSWORD}\n`),
      KAFKA_SSL_KEY_PASSWORD_FILE: secretFile(ctx, KEY_PASSWORD),
    });
    expect(c.kafka.sasl.password).toBe(PASSWORD);
    expect(c.kafka.ssl.keyPassword).toBe(KEY_PASSWORD);
    // A loaded config parsed again (tests spread one) keeps the same secret without complaint.
    expect(parseConfig(c).kafka.sasl.password).toBe(PASSWORD);
  });

  it('the *File keys work from YAML or TAGSTREAM__ variables too', (ctx) => {
    const c = loadConfig({
      TAGSTREAM__kafka__security__protocol: 'SASL_SSL',
      TAGSTREAM__kafka__sasl__username: 'tagstream',
      TAGSTREAM__kafka__sasl__passwordFile: secretFile(ctx, PASSWORD),
    });
    expect(c.kafka.sasl.password).toBe(PASSWORD);
  });

  it('a missing or empty file, or a different value beside the file, is CONFIG_INVALID naming the key', (ctx) => {
    const base = { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u' };
    const missing = thrownBy(() => loadConfig({ ...base, KAFKA_SASL_PASSWORD_FILE: '/nonexistent/pw' }));
    expect(missing.message).toContain('kafka.sasl.passwordFile: cannot read /nonexistent/pw (ENOENT)');
    const empty = thrownBy(() => loadConfig({ ...base, KAFKA_SASL_PASSWORD_FILE: secretFile(ctx, '\n') }));
    expect(empty.message).toContain('is empty');
    const both = thrownBy(() =>
      loadConfig({
        ...base,
        KAFKA_SASL_PASSWORD: 'other',
        KAFKA_SASL_PASSWORD_FILE: secretFile(ctx, PASSWORD),
      }),
    );
    expect(both.message).toContain('set kafka.sasl.password or kafka.sasl.passwordFile, not both');
    expect(both.message).not.toContain(PASSWORD);
  });
});

describe('redactConfig', () => {
  it('hides the SASL password and the key password, keeps the files and the user', (ctx) => {
    const c = loadConfig({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_USERNAME: 'tagstream',
      KAFKA_SASL_PASSWORD_FILE: secretFile(ctx, PASSWORD),
      KAFKA_SSL_KEY_PASSWORD: KEY_PASSWORD,
    });
    const r = redactConfig(c);
    expect(r.kafka.sasl.password).toBe('***');
    expect(r.kafka.ssl.keyPassword).toBe('***');
    expect(r.kafka.sasl.username).toBe('tagstream');
    expect(r.kafka.sasl.passwordFile).toBe(c.kafka.sasl.passwordFile);
    expect(JSON.stringify(r)).not.toContain(PASSWORD);
    expect(JSON.stringify(r)).not.toContain(KEY_PASSWORD);
    expect(c.kafka.sasl.password).toBe(PASSWORD);
  });

  it('leaves the Kafka section alone when it holds no secret', () => {
    const c = parseConfig({});
    expect(redactConfig(c).kafka).toEqual(c.kafka);
  });
});
