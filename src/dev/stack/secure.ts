// The secure local Kafka (`npm run stack -- up --secure`): a second KRaft node under .stack/secure/, on its own
// ports, beside the plain one the demo and the tests use. SASL_SSL (SCRAM) for clients, an mTLS listener, a CA and
// broker certificate made with openssl, SCRAM users added when the storage is formatted, StandardAuthorizer with no
// access unless an ACL allows it, and the ACLs of each principal (docs/security.md).
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../../config/schema.ts';
import { inNamespace } from '../../../config/topics.ts';
import { TagstreamError } from '../../errors.ts';
import { createAcls, type AclBinding, type AclOperation } from '../../io/kafka/acls.ts';
import type { KafkaSecurity } from '../../io/kafka/security.ts';
import { createLogger } from '../../log.ts';
import { scrub } from '../../io/kafka/security.ts';
import { javaBinary, requireTool } from './java.ts';
import { kafkaLibs, kafkaNodeService, type StackPaths, type StackService } from './services.ts';

export const SECURE_HOST = '127.0.0.1';
/** SASL_SSL for clients, the KRaft controller (SASL_SSL, PLAIN), SSL with client certificates (mTLS). */
export const SECURE_PORTS = { sasl: 9192, controller: 9193, mtls: 9194 } as const;
/** admin: the only super user; tagstream: the pipeline; reader: predictions and alerts; producer: the sources. */
export const SECURE_USERS = ['admin', 'tagstream', 'reader', 'producer'] as const;
export type SecureUser = (typeof SECURE_USERS)[number];

export interface SecurePaths {
  readonly dir: string;
  readonly kafkaDir: string;
  readonly tlsDir: string;
  readonly secretsDir: string;
  readonly caFile: string;
  readonly caKey: string;
  /** The broker's PEM keystore: its key and certificate chain. */
  readonly brokerKeystore: string;
  /** mTLS client certificate of the pipeline (CN=tagstream) and its key, encrypted with clientKeyPasswordFile. */
  readonly clientCert: string;
  readonly clientKey: string;
  readonly clientKeyPasswordFile: string;
  /** The secure Redis's and MariaDB's certificate (127.0.0.1, localhost) and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  passwordFile(user: SecureUser): string;
}

export function securePaths(stackDir: string): SecurePaths {
  const dir = join(stackDir, 'secure');
  const tlsDir = join(dir, 'tls');
  const secretsDir = join(dir, 'secrets');
  return {
    dir,
    kafkaDir: join(dir, 'kafka'),
    tlsDir,
    secretsDir,
    caFile: join(tlsDir, 'ca.pem'),
    caKey: join(secretsDir, 'ca.key'),
    brokerKeystore: join(secretsDir, 'broker-keystore.pem'),
    clientCert: join(tlsDir, 'tagstream-client.pem'),
    clientKey: join(secretsDir, 'tagstream-client.key'),
    clientKeyPasswordFile: join(secretsDir, 'tagstream-client.key-password'),
    serverCert: join(tlsDir, 'server.pem'),
    serverKey: join(secretsDir, 'server.key'),
    passwordFile: (user) => join(secretsDir, `${user}.password`),
  };
}

export const secureBrokers = (port: number = SECURE_PORTS.sasl): string[] => [`${SECURE_HOST}:${port}`];

export const readSecret = (file: string): string => readFileSync(file, 'utf8').trim();

/** Writes a secret readable by its owner only. */
export function writeSecret(file: string, value: string): void {
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * A random password per user, once; true when any was made now (the storage must then be formatted anew, as the
 * SCRAM credentials are written at format time). Hex: nothing the `--add-scram` syntax or a JSON env value misreads.
 */
export function ensureSecrets(paths: SecurePaths): boolean {
  mkdirSync(paths.secretsDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.secretsDir, 0o700);
  let made = false;
  for (const user of SECURE_USERS) {
    if (existsSync(paths.passwordFile(user))) continue;
    writeSecret(paths.passwordFile(user), randomBytes(24).toString('hex'));
    made = true;
  }
  return made;
}

function openssl(args: string[], what: string): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new TagstreamError('STACK_START_FAILED', `openssl could not ${what}: ${r.stderr || r.stdout}`);
}

/**
 * Signs a certificate for `name` with the stack's CA: its key in the secrets folder (encrypted when `keyArgs` say
 * how, then removed unencrypted), the certificate in the tls folder.
 */
function signCertificate(
  paths: SecurePaths,
  name: string,
  subject: string,
  ext: string,
  keyArgs: string[],
): { key: string; cert: string } {
  const t = (file: string) => join(paths.secretsDir, file);
  const days = '825';
  // A key to be encrypted is made beside its final place, and removed once encrypted.
  const key = t(keyArgs.length ? `${name}.plain.key` : `${name}.key`);
  const csr = t(`${name}.csr`);
  const extFile = t(`${name}.ext`);
  const cert = join(paths.tlsDir, `${name}.pem`);
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', key, '-out', csr],
    `make the ${name} key`,
  );
  writeFileSync(extFile, ext);
  openssl(
    [
      'x509', '-req', '-in', csr, '-CA', paths.caFile, '-CAkey', paths.caKey, '-CAcreateserial',
      '-days', days, '-sha256', '-extfile', extFile, '-out', cert,
    ],
    `sign the ${name} certificate`,
  ); // prettier-ignore
  if (keyArgs.length) {
    openssl(['pkcs8', '-topk8', '-in', key, ...keyArgs], `encrypt the ${name} key`);
    rmSync(key);
  }
  for (const f of [csr, extFile]) rmSync(f, { force: true });
  if (existsSync(key)) chmodSync(key, 0o600);
  return { key, cert };
}

/**
 * The host names in the secure stack's server certificates: 127.0.0.1 and localhost for the local processes, and
 * the compose service names of the secure profile (docker-compose.yml), where containers reach each other by name.
 */
export const SERVER_CERT_NAMES = {
  broker: ['IP Address:127.0.0.1', 'DNS:localhost', 'DNS:kafka-secure'],
  server: ['IP Address:127.0.0.1', 'DNS:localhost', 'DNS:redis-secure', 'DNS:mariadb-secure'],
} as const;

/** What a server certificate of the local stack holds (its names: SERVER_CERT_NAMES), for TLS servers. */
const serverExt = (names: readonly string[]): string =>
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
  `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${names.map((n) => n.replace('IP Address:', 'IP:')).join(',')}\n`;

/** The subject alternative names of a PEM certificate, as openssl prints them (`DNS:localhost`, `IP Address:…`). */
export function certificateNames(certFile: string): string[] {
  const r = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', certFile], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .slice(1)
    .join(',')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
}

/** The broker's certificate and its PEM keystore (its unencrypted PKCS#8 key, its certificate, then the CA's). */
function signBroker(paths: SecurePaths): void {
  const broker = signCertificate(paths, 'broker', '/CN=localhost', serverExt(SERVER_CERT_NAMES.broker), []);
  writeSecret(
    paths.brokerKeystore,
    [readFileSync(broker.key, 'utf8'), readFileSync(broker.cert, 'utf8'), readFileSync(paths.caFile, 'utf8')]
      .map((p) => p.trim())
      .join('\n'),
  );
}

const signServer = (paths: SecurePaths): void =>
  void signCertificate(paths, 'server', '/CN=localhost', serverExt(SERVER_CERT_NAMES.server), []);

/**
 * A CA, the broker's certificate (SERVER_CERT_NAMES.broker) and the pipeline's mTLS client certificate, once.
 * PEM throughout: Kafka reads a PEM keystore and truststore (ssl.keystore.type=PEM), kafkajs and librdkafka PEM files.
 */
export function ensureCertificates(paths: SecurePaths, log: (l: string) => void): void {
  if (existsSync(paths.caFile) && existsSync(paths.brokerKeystore) && existsSync(paths.clientKey)) return;
  requireTool('openssl', 'install it (apt-get install openssl) to make the secure stack certificates');
  log(`kafka-secure: making a CA and certificates in ${paths.tlsDir}`);
  mkdirSync(paths.tlsDir, { recursive: true });
  mkdirSync(paths.secretsDir, { recursive: true, mode: 0o700 });
  const days = '825';
  openssl(
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', days,
      '-subj', '/CN=tagstream local stack CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', paths.caKey, '-out', paths.caFile,
    ],
    'make the CA',
  ); // prettier-ignore
  signBroker(paths);
  // The pipeline's client certificate for the mTLS listener (the broker maps CN=tagstream to User:tagstream); its
  // key encrypted with a password of its own, so that kafka.ssl.keyPasswordFile is exercised.
  writeSecret(paths.clientKeyPasswordFile, randomBytes(18).toString('hex'));
  signCertificate(
    paths,
    'tagstream-client',
    '/CN=tagstream',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    ['-v2', 'aes-256-cbc', '-passout', `file:${paths.clientKeyPasswordFile}`, '-out', paths.clientKey],
  );
  for (const f of [paths.caKey, paths.clientKey]) if (existsSync(f)) chmodSync(f, 0o600);
}

/**
 * The certificate of the secure Redis and MariaDB (`tls/server.pem`, key `secrets/server.key`), signed by the
 * stack's CA (made first when missing), for 127.0.0.1 and localhost; once.
 */
export function ensureServerCertificate(paths: SecurePaths, log: (l: string) => void): void {
  ensureCertificates(paths, log);
  if (existsSync(paths.serverCert) && existsSync(paths.serverKey)) return;
  requireTool('openssl', 'install it (apt-get install openssl) to make the secure stack certificates');
  log(`secure stack: making the Redis and MariaDB server certificate in ${paths.tlsDir}`);
  signServer(paths);
}

/**
 * The broker's and the Redis and MariaDB server certificates with every name of SERVER_CERT_NAMES: ones made before
 * the compose names were added are signed again by the same CA (a process running with the old one keeps it until
 * it restarts; clients trust both). True when any was signed again.
 */
export function ensureCertificateNames(paths: SecurePaths, log: (l: string) => void): boolean {
  ensureServerCertificate(paths, log);
  let signed = false;
  for (const [name, sign] of [
    ['broker', signBroker],
    ['server', signServer],
  ] as const) {
    const have = certificateNames(join(paths.tlsDir, `${name}.pem`));
    const missing = SERVER_CERT_NAMES[name].filter((n) => !have.includes(n));
    if (!missing.length) continue;
    log(
      `secure stack: the ${name} certificate lacks ${missing.join(', ')}: signing it again with the stack's CA`,
    );
    sign(paths);
    signed = true;
  }
  return signed;
}

/** The `kafka-storage format` arguments adding each user's SCRAM credentials (both SHA-256 and SHA-512). */
export function scramFormatArgs(passwords: Readonly<Record<SecureUser, string>>): string[] {
  return SECURE_USERS.flatMap((user) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
      '--add-scram',
      `${m}=[name=${user},password=${passwords[user]}]`,
    ]),
  );
}

/** The listener and authorizer lines of the secure node's server.properties. */
export function secureProperties(
  paths: SecurePaths,
  adminPassword: string,
  ports: { sasl: number; controller: number; mtls: number } = SECURE_PORTS,
): string[] {
  const h = SECURE_HOST;
  const plain = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${adminPassword}" user_admin="${adminPassword}";`;
  const scram = `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${adminPassword}";`;
  return [
    `controller.quorum.voters=1@${h}:${ports.controller}`,
    `listeners=SASL_SSL://${h}:${ports.sasl},CONTROLLER://${h}:${ports.controller},SSL://${h}:${ports.mtls}`,
    `advertised.listeners=SASL_SSL://${h}:${ports.sasl},SSL://${h}:${ports.mtls}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL,SSL:SSL',
    'inter.broker.listener.name=SASL_SSL',
    // Clients and the broker itself: SCRAM (its credentials live in the metadata, added at format time).
    'sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scram}`,
    `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${scram}`,
    // The controller cannot read SCRAM credentials before the metadata is loaded: PLAIN there, as admin.
    'sasl.mechanism.controller.protocol=PLAIN',
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    `listener.name.controller.plain.sasl.jaas.config=${plain}`,
    // TLS: PEM keystore and truststore.
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${paths.brokerKeystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${paths.caFile}`,
    'ssl.endpoint.identification.algorithm=https',
    // The mTLS listener: a client certificate is required; CN=<name> is the principal User:<name>.
    'listener.name.ssl.ssl.client.auth=required',
    'ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,RULE:^CN=([^,]+),.*$/$1/,DEFAULT',
    // Nothing is allowed unless an ACL allows it; admin (the broker's own principal too) is the only super user.
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'allow.everyone.if.no.acl.found=false',
    'super.users=User:admin',
  ];
}

/**
 * What each principal may do, with the topic names of the config's defaults (config/topics.ts), each prefix as a
 * prefixed pattern. tagstream: the pipeline, its groups and transactional ids (`tagstream-` on both), its internal
 * topics (`tagstream` prefix: class events, changelogs), every topic it reads or writes and creates. reader: reads
 * predictions and alerts, groups `reader*`. producer: writes the two sources, nothing else.
 */
export function secureAcls(topics: Config['topics']): AclBinding[] {
  const allow = (
    principal: string,
    resource: AclBinding['resource'],
    name: string,
    prefixed: boolean,
    operations: AclOperation[],
  ): AclBinding[] => operations.map((operation) => ({ principal, resource, name, prefixed, operation }));
  // Prefixes in the namespace, as the topics derived from them are (config/topics.ts); names are in it already.
  const ns = (prefix: string): string => inNamespace(topics, prefix);
  const pipelineTopics: Array<[string, boolean]> = [
    [topics.scans, false],
    [topics.transactions, false],
    [ns('external.'), true],
    [ns('features.'), true],
    [ns(topics.predictionsPrefix), true],
    [topics.alerts, false],
    [topics.modelVersions, false],
    [ns(topics.dlqPrefix), true],
    [ns(topics.latePrefix), true],
    [ns(topics.cleanPrefix), true],
    [ns('tagstream'), true],
  ];
  const tagstream = 'User:tagstream';
  const reader = 'User:reader';
  const producer = 'User:producer';
  return [
    ...pipelineTopics.flatMap(([name, prefixed]) =>
      allow(tagstream, 'Topic', name, prefixed, ['Read', 'Write', 'Create', 'Describe', 'DescribeConfigs']),
    ),
    ...allow(tagstream, 'Group', 'tagstream', true, ['Read', 'Describe', 'Delete']),
    ...allow(tagstream, 'TransactionalId', 'tagstream-', true, ['Write', 'Describe']),
    ...allow(tagstream, 'Cluster', 'kafka-cluster', false, ['IdempotentWrite']),
    ...allow(reader, 'Topic', ns(topics.predictionsPrefix), true, ['Read', 'Describe']),
    ...allow(reader, 'Topic', topics.alerts, false, ['Read', 'Describe']),
    ...allow(reader, 'Group', 'reader', true, ['Read', 'Describe']),
    // DescribeConfigs: the simulator checks the topics' retention before it writes.
    ...allow(producer, 'Topic', topics.scans, false, ['Write', 'Describe', 'DescribeConfigs']),
    ...allow(producer, 'Topic', topics.transactions, false, ['Write', 'Describe', 'DescribeConfigs']),
  ];
}

/** How `user` connects: SASL_SSL with SCRAM-SHA-512, trusting the stack's CA (what the stack's own clients use too). */
export function secureSecurity(paths: SecurePaths, user: SecureUser, password?: string): KafkaSecurity {
  return {
    protocol: 'SASL_SSL',
    sasl: {
      mechanism: 'SCRAM-SHA-512',
      username: user,
      password: password ?? readSecret(paths.passwordFile(user)),
    },
    ssl: { caFile: paths.caFile, certFile: '', keyFile: '', keyPassword: '' },
  };
}

/** The environment that points tagstream at the secure Kafka as `user` (secrets by file, never by value). */
export function secureEnv(
  paths: SecurePaths,
  user: SecureUser,
  port: number = SECURE_PORTS.sasl,
): Record<string, string> {
  return {
    KAFKA_BROKERS: secureBrokers(port).join(','),
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD_FILE: paths.passwordFile(user),
    KAFKA_SSL_CA_FILE: paths.caFile,
  };
}

/** The same as a config profile (TAGSTREAM_CONFIG=<file>). */
export function secureProfile(
  paths: SecurePaths,
  user: SecureUser,
  port: number = SECURE_PORTS.sasl,
): string {
  return [
    `# tagstream on the secure local Kafka as ${user} (written by \`npm run stack -- up --secure\`).`,
    'kafka:',
    `  brokers: ["${secureBrokers(port)[0]}"]`,
    // Tools name their consumer groups after the client id (`<clientId>-alerts-tail-…`): within the user's ACLs.
    `  clientId: ${user}`,
    '  security:',
    '    protocol: SASL_SSL',
    '  sasl:',
    '    mechanism: SCRAM-SHA-512',
    `    username: ${user}`,
    `    passwordFile: ${paths.passwordFile(user)}`,
    '  ssl:',
    `    caFile: ${paths.caFile}`,
    '',
  ].join('\n');
}

/** The lines `stack up --secure` prints: how to point tagstream at the secure Kafka. */
export function secureInstructions(paths: SecurePaths): string {
  const env = secureEnv(paths, 'tagstream');
  return [
    `secure Kafka: SASL_SSL (SCRAM-SHA-512/256) at ${secureBrokers()[0]}, mTLS at ${SECURE_HOST}:${SECURE_PORTS.mtls}; ` +
      `users ${SECURE_USERS.join(', ')} (passwords in ${paths.secretsDir}, mode 600)`,
    'point tagstream at it as the pipeline (only for its commands: `npm run stack` keeps the plain broker):',
    ...Object.entries(env).map(([k, v]) => `  export ${k}=${v}`),
    `or: TAGSTREAM_CONFIG=${join(paths.dir, 'tagstream.yaml')} npm run pipeline   (reader.yaml, producer.yaml beside it)`,
  ].join('\n');
}

/** A Kafka tool's `--command-config` for admin over SASL_SSL (it holds admin's password: a secret file). */
export function adminClientProperties(adminPassword: string, caFile: string): string[] {
  return [
    'security.protocol=SASL_SSL',
    'sasl.mechanism=SCRAM-SHA-512',
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${adminPassword}";`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${caFile}`,
  ];
}

/**
 * A new SCRAM password for `user` (both mechanisms), set on the running broker with Kafka's ConfigCommand as admin,
 * then written to the user's password file. Clients logged in stay connected; each new connection needs the new
 * password (a client reads its passwordFile when it starts). admin's password is also the broker's own login, in
 * its server.properties: it is not rotated here (docs/security.md says how).
 */
export function rotatePassword(
  config: Config,
  paths: StackPaths,
  user: SecureUser,
  log: (l: string) => void,
): void {
  if (user === 'admin')
    throw new TagstreamError(
      'STACK_START_FAILED',
      "admin's password is also the broker's own login (server.properties): see docs/security.md, rotating credentials",
    );
  const sp = securePaths(paths.stackDir);
  if (!existsSync(sp.passwordFile(user)))
    throw new TagstreamError(
      'STACK_START_FAILED',
      'no secure stack here: run `npm run stack -- up --secure` first',
    );
  const libs = kafkaLibs(config, paths, sp.kafkaDir, log);
  const admin = readSecret(sp.passwordFile('admin'));
  const commandConfig = join(sp.secretsDir, 'admin-client.properties');
  writeSecret(commandConfig, adminClientProperties(admin, sp.caFile).join('\n'));
  const password = randomBytes(24).toString('hex');
  // One mechanism per request (the broker refuses two changes of one user's credentials in one request).
  for (const mechanism of ['SCRAM-SHA-512', 'SCRAM-SHA-256']) {
    const r = spawnSync(
      javaBinary(process.env['JAVA_HOME'] ?? ''),
      [
        '-cp',
        `${libs}/*`,
        'org.apache.kafka.tools.ConfigCommand',
        '--bootstrap-server',
        secureBrokers()[0]!,
        '--command-config',
        commandConfig,
        '--alter',
        '--entity-type',
        'users',
        '--entity-name',
        user,
        '--add-config',
        `${mechanism}=[password=${password}]`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (r.status !== 0)
      throw new TagstreamError(
        'STACK_START_FAILED',
        `could not change ${user}'s ${mechanism} password (is kafka-secure up? npm run stack -- status): ` +
          scrub(r.stderr || r.stdout || '', [password, admin])
            .split('\n')
            .slice(0, 3)
            .join(' '),
      );
  }
  writeSecret(sp.passwordFile(user), password);
  log(
    `kafka-secure: ${user} has a new password (in ${sp.passwordFile(user)}); restart the clients that use it`,
  );
}

/** The secure Kafka as a stack service: `kafka-secure`, with its own ports and folder. */
export function secureKafkaService(
  config: Config,
  paths: StackPaths,
  env: NodeJS.ProcessEnv = process.env,
): StackService {
  const sp = securePaths(paths.stackDir);
  const admin = (): KafkaSecurity => secureSecurity(sp, 'admin');
  const brokers = secureBrokers();
  let security: KafkaSecurity | undefined;
  return kafkaNodeService(
    config,
    paths,
    {
      name: 'kafka-secure',
      dir: sp.kafkaDir,
      brokers,
      // Readiness probes log in as admin; before `up` made the passwords there is nothing to log in with.
      get security() {
        if (!security && existsSync(sp.passwordFile('admin'))) security = admin();
        return security ?? { protocol: 'SASL_SSL' };
      },
      prepare(log) {
        const fresh = ensureSecrets(sp);
        ensureCertificates(sp, log);
        security = admin();
        if (fresh) log('kafka-secure: new passwords: the storage is formatted anew');
        return fresh;
      },
      properties: () => secureProperties(sp, readSecret(sp.passwordFile('admin'))),
      formatArgs: () =>
        scramFormatArgs(
          Object.fromEntries(SECURE_USERS.map((u) => [u, readSecret(sp.passwordFile(u))])) as Record<
            SecureUser,
            string
          >,
        ),
      async ready(log) {
        for (const user of ['tagstream', 'reader', 'producer'] as const)
          writeFileSync(join(sp.dir, `${user}.yaml`), secureProfile(sp, user));
        const acls = secureAcls(config.topics);
        await createAcls(
          {
            brokers,
            clientId: 'tagstream-stack',
            connectTimeoutMs: 5_000,
            log: createLogger('stack', 'silent'),
            security: admin(),
          },
          acls,
        );
        log(`kafka-secure: ${acls.length} ACLs in place`);
      },
    },
    false,
    env,
  );
}
