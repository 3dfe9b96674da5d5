// The secure compose profile's files (`npm run stack -- compose-secrets`), written into a folder of their own: the
// secure stack's passwords, CA and certificates (with the compose host names), the broker's server.properties built
// from the local secure broker's, the SCRAM users of its format step and the Redis ACL file. No services needed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/load.ts';
import {
  COMPOSE_KAFKA_DATA,
  composeDir,
  composeKafkaProperties,
  composeSecret,
  composeSecretFiles,
  writeComposeSecrets,
} from '../../../src/dev/stack/secure-compose.ts';
import { REDIS_USERS, redisAclFile, secureDataPaths } from '../../../src/dev/stack/secure-data.ts';
import {
  SECURE_USERS,
  SERVER_CERT_NAMES,
  certificateNames,
  readSecret,
  scramFormatArgs,
  secureProperties,
} from '../../../src/dev/stack/secure.ts';

const root = mkdtempSync(join(tmpdir(), 'tagstream-compose-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const stack = { stackDir: join(root, '.stack'), cacheDir: join(root, 'cache') };
const paths = secureDataPaths(stack.stackDir);
const config = parseConfig({});
const lines: string[] = [];

describe('compose-secrets', () => {
  const files = writeComposeSecrets(config, stack, (l) => lines.push(l));
  const byName = composeSecretFiles(paths);

  it("writes every file the profile's Docker secrets name; secrets mode 600 in folders of mode 700", () => {
    expect(files.sort()).toEqual(Object.values(byName).sort());
    for (const f of files) expect(existsSync(f), f).toBe(true);
    for (const [name, f] of Object.entries(byName))
      if (name !== 'ca_pem' && name !== 'server_pem') expect(statSync(f).mode & 0o777, name).toBe(0o600);
    expect(statSync(composeDir(paths)).mode & 0o777).toBe(0o700);
    expect(statSync(paths.secretsDir).mode & 0o777).toBe(0o700);
    // The profiles for clients on the host, as `up --secure` writes them.
    for (const p of ['tagstream.yaml', 'reader.yaml', 'producer.yaml', 'trainer.yaml', 'api.yaml'])
      expect(existsSync(join(paths.dir, p)), p).toBe(true);
  });

  it('certificates for the local stack and the compose host names, from one CA', () => {
    expect(certificateNames(join(paths.tlsDir, 'broker.pem'))).toEqual([...SERVER_CERT_NAMES.broker]);
    expect(certificateNames(paths.serverCert)).toEqual([...SERVER_CERT_NAMES.server]);
    for (const cert of [join(paths.tlsDir, 'broker.pem'), paths.serverCert])
      expect(spawnSync('openssl', ['verify', '-CAfile', paths.caFile, cert]).status, cert).toBe(0);
  });

  it('signs again, with the same CA, a certificate made before the compose names; passwords kept', () => {
    const ca = readFileSync(paths.caFile, 'utf8');
    const password = readSecret(paths.passwordFile('tagstream'));
    // A certificate of the stack's CA without those names (the client's), where the server's was.
    copyFileSync(paths.clientCert, paths.serverCert);
    lines.length = 0;
    writeComposeSecrets(config, stack, (l) => lines.push(l));
    expect(lines.join('\n')).toContain('the server certificate lacks');
    expect(certificateNames(paths.serverCert)).toEqual([...SERVER_CERT_NAMES.server]);
    expect(readFileSync(paths.caFile, 'utf8')).toBe(ca);
    expect(readSecret(paths.passwordFile('tagstream'))).toBe(password);
    // A third run changes nothing.
    lines.length = 0;
    writeComposeSecrets(config, stack, (l) => lines.push(l));
    expect(lines).toEqual([]);
  });

  it('the SCRAM users of the format step: every Kafka user, both mechanisms, one argument a line', () => {
    const passwords = Object.fromEntries(SECURE_USERS.map((u) => [u, readSecret(paths.passwordFile(u))]));
    expect(readFileSync(byName['kafka_format_args']!, 'utf8').trimEnd().split('\n')).toEqual(
      scramFormatArgs(passwords as Parameters<typeof scramFormatArgs>[0]),
    );
    for (const u of SECURE_USERS)
      expect(readFileSync(byName['kafka_format_args']!, 'utf8')).toContain(`name=${u},`);
  });

  it("the Redis ACL file: the local stack's, default user off, passwords as SHA-256 only", () => {
    const passwords = Object.fromEntries(REDIS_USERS.map((u) => [u, readSecret(paths.redisPasswordFile(u))]));
    const acl = readFileSync(byName['redis_users_acl']!, 'utf8');
    expect(acl).toBe(redisAclFile(passwords as Parameters<typeof redisAclFile>[0], 'ts:'));
    expect(acl.split('\n')[0]).toBe('user default off resetchannels -@all');
    for (const p of Object.values(passwords)) expect(acl).not.toContain(p);
  });

  it("admin's client settings for the healthcheck: SASL_SSL as admin, the CA at its container path", () => {
    const props = readFileSync(byName['kafka_admin_client_properties']!, 'utf8');
    expect(props).toContain('security.protocol=SASL_SSL');
    expect(props).toContain(`password="${readSecret(paths.passwordFile('admin'))}"`);
    expect(props).toContain(`ssl.truststore.location=${composeSecret('ca_pem')}`);
  });
});

describe('composeKafkaProperties', () => {
  const props = composeKafkaProperties('adminpw', 3);
  const value = (key: string) => props.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

  it('keeps every setting of the local secure broker but its listeners: SASL, TLS, the authorizer, ACLs only', () => {
    const inContainer = {
      ...secureDataPaths('/'),
      brokerKeystore: composeSecret('broker_keystore_pem'),
      caFile: composeSecret('ca_pem'),
    };
    const local = secureProperties(inContainer, 'adminpw');
    const listenerKeys =
      /^(controller\.quorum\.voters|listeners|advertised\.listeners|listener\.security\.protocol\.map|inter\.broker\.listener\.name)=/;
    for (const line of local.filter((l) => !listenerKeys.test(l))) expect(props).toContain(line);
    expect(props).toContain('authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(props).toContain('allow.everyone.if.no.acl.found=false');
    expect(props).toContain('super.users=User:admin');
    expect(value('ssl.keystore.location')).toBe(composeSecret('broker_keystore_pem'));
    expect(value('log.dirs')).toBe(COMPOSE_KAFKA_DATA);
  });

  it('the host at 127.0.0.1:9192 (SASL_SSL) and :9194 (mTLS), containers at kafka-secure:29192, no plaintext', () => {
    expect(value('advertised.listeners')).toBe(
      'SASL_SSL://127.0.0.1:9192,SSL://127.0.0.1:9194,INTERNAL://kafka-secure:29192',
    );
    expect(value('listener.security.protocol.map')).toBe(
      'SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL,SSL:SSL,INTERNAL:SASL_SSL',
    );
    expect(value('inter.broker.listener.name')).toBe('INTERNAL');
    expect(props.join('\n')).not.toContain('PLAINTEXT');
    // The containers' listener logs in as the host's does.
    expect(value('listener.name.internal.scram-sha-512.sasl.jaas.config')).toBe(
      value('listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config'),
    );
  });
});
