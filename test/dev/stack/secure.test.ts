// The secure stack's pieces that need no broker: certificates and passwords made with openssl into a folder of
// their own (the secrets mode 600), the broker's listener and authorizer settings, the SCRAM users of the format
// step, each principal's ACLs, and the settings printed for tagstream, which load as a valid config.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../config/load.ts';
import {
  SECURE_USERS,
  ensureCertificates,
  ensureSecrets,
  scramFormatArgs,
  secureAcls,
  secureEnv,
  secureProperties,
  securePaths,
} from '../../../src/dev/stack/secure.ts';

const root = mkdtempSync(join(tmpdir(), 'tagstream-secure-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const paths = securePaths(root);

describe('secure stack files', () => {
  it('makes a password per user once, mode 600 in a mode 700 folder', () => {
    expect(ensureSecrets(paths)).toBe(true);
    const first = readFileSync(paths.passwordFile('tagstream'), 'utf8');
    expect(first.trim()).toMatch(/^[0-9a-f]{48}$/);
    expect(ensureSecrets(paths)).toBe(false);
    expect(readFileSync(paths.passwordFile('tagstream'), 'utf8')).toBe(first);
    for (const u of SECURE_USERS) expect(statSync(paths.passwordFile(u)).mode & 0o777).toBe(0o600);
    expect(statSync(paths.secretsDir).mode & 0o777).toBe(0o700);
  });

  it('makes a CA, a broker certificate for 127.0.0.1 and a client certificate with an encrypted key', () => {
    ensureCertificates(paths, () => undefined);
    const verify = (cert: string) =>
      spawnSync('openssl', ['verify', '-CAfile', paths.caFile, cert], { encoding: 'utf8' });
    expect(verify(join(paths.tlsDir, 'broker.pem')).status).toBe(0);
    expect(verify(paths.clientCert).status).toBe(0);
    const text = spawnSync(
      'openssl',
      ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(paths.tlsDir, 'broker.pem')],
      {
        encoding: 'utf8',
      },
    ).stdout;
    expect(text).toContain('IP Address:127.0.0.1');
    expect(readFileSync(paths.brokerKeystore, 'utf8')).toMatch(/BEGIN PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/);
    expect(readFileSync(paths.clientKey, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    for (const f of [paths.caKey, paths.brokerKeystore, paths.clientKey, paths.clientKeyPasswordFile])
      expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});

describe('secure broker settings', () => {
  const props = secureProperties(paths, 'adminpw');

  it('SASL_SSL with SCRAM for clients, an mTLS listener, PEM stores, no access without an ACL', () => {
    expect(props).toContain(
      'listeners=SASL_SSL://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193,SSL://127.0.0.1:9194',
    );
    expect(props).toContain('sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256');
    expect(props).toContain('ssl.keystore.type=PEM');
    expect(props).toContain('listener.name.ssl.ssl.client.auth=required');
    expect(props).toContain('authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(props).toContain('allow.everyone.if.no.acl.found=false');
    expect(props).toContain('super.users=User:admin');
    // No listener in plaintext, the controller's included.
    expect(props.find((l) => l.startsWith('listener.security.protocol.map='))).not.toMatch(/PLAINTEXT/);
  });

  it('adds every user with both SCRAM mechanisms at format time', () => {
    const args = scramFormatArgs({ admin: 'a1', tagstream: 't1', reader: 'r1', producer: 'p1' });
    expect(args.filter((a) => a === '--add-scram')).toHaveLength(8);
    expect(args).toContain('SCRAM-SHA-512=[name=reader,password=r1]');
    expect(args).toContain('SCRAM-SHA-256=[name=tagstream,password=t1]');
  });
});

describe('secureAcls', () => {
  const acls = secureAcls(parseConfig({}).topics);
  const allows = (principal: string, resource: string, name: string, operation: string, prefixed?: boolean) =>
    acls.some(
      (a) =>
        a.principal === principal &&
        a.resource === resource &&
        a.name === name &&
        a.operation === operation &&
        (prefixed === undefined || a.prefixed === prefixed),
    );

  it('tagstream: its topics, groups, transactional ids and idempotent writes', () => {
    for (const op of ['Read', 'Write', 'Create', 'Describe']) {
      expect(allows('User:tagstream', 'Topic', 'rfid.scans', op, false)).toBe(true);
      expect(allows('User:tagstream', 'Topic', 'predictions.', op, true)).toBe(true);
      expect(allows('User:tagstream', 'Topic', 'tagstream', op, true)).toBe(true);
      expect(allows('User:tagstream', 'Topic', 'clean.', op, true)).toBe(true);
    }
    expect(allows('User:tagstream', 'Group', 'tagstream', 'Read', true)).toBe(true);
    expect(allows('User:tagstream', 'TransactionalId', 'tagstream-', 'Write', true)).toBe(true);
    expect(allows('User:tagstream', 'Cluster', 'kafka-cluster', 'IdempotentWrite')).toBe(true);
  });

  it('reader reads predictions and alerts only; producer writes the two sources only (and reads their configs)', () => {
    const of = (p: string) => acls.filter((a) => a.principal === p);
    expect(of('User:reader').every((a) => ['Read', 'Describe'].includes(a.operation))).toBe(true);
    expect(allows('User:reader', 'Topic', 'predictions.', 'Read', true)).toBe(true);
    expect(allows('User:reader', 'Topic', 'alerts', 'Read', false)).toBe(true);
    expect(allows('User:reader', 'Group', 'reader', 'Read', true)).toBe(true);
    expect(
      of('User:producer')
        .map((a) => `${a.resource}:${a.name}:${a.operation}`)
        .sort(),
    ).toEqual([
      'Topic:pos.transactions:Describe',
      'Topic:pos.transactions:DescribeConfigs',
      'Topic:pos.transactions:Write',
      'Topic:rfid.scans:Describe',
      'Topic:rfid.scans:DescribeConfigs',
      'Topic:rfid.scans:Write',
    ]);
    expect(acls.some((a) => a.principal === 'User:admin')).toBe(false);
  });

  it('follows topics.namespace', () => {
    const ns = secureAcls(parseConfig({ topics: { namespace: 'shop1' } }).topics);
    expect(ns.some((a) => a.name === 'shop1.rfid.scans')).toBe(true);
    expect(ns.some((a) => a.name === 'shop1.predictions.' && a.prefixed)).toBe(true);
  });
});

describe('secureEnv', () => {
  it('loads as a config for the pipeline principal, the password read from its file', () => {
    const c = loadConfig(secureEnv(paths, 'tagstream'));
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9192']);
    expect(c.kafka.security.protocol).toBe('SASL_SSL');
    expect(c.kafka.sasl.username).toBe('tagstream');
    expect(c.kafka.sasl.password).toBe(readFileSync(paths.passwordFile('tagstream'), 'utf8').trim());
    expect(Object.values(secureEnv(paths, 'tagstream')).join(' ')).not.toContain(c.kafka.sasl.password);
  });
});
