// The secure profile of docker-compose.yml (`docker compose --profile secure up`): the secure stack of `npm run
// stack -- up --secure` in containers, from the same code. `stack compose-secrets` writes on the host what the
// profile hands the containers as Docker secrets (the same passwords, CA and certificates as the local secure stack,
// the broker's server.properties, the SCRAM users of its format step, the Redis ACL file); `stack compose-setup`
// runs in the profile's setup container once the servers answer (the ACLs, the migrations as root, the users).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../../config/schema.ts';
import { createAcls } from '../../io/kafka/acls.ts';
import type { KafkaSecurity } from '../../io/kafka/security.ts';
import { migrate } from '../../io/mysql/migrate.ts';
import { createUsers, DB_USERS, type DbUser } from '../../io/mysql/users.ts';
import { createLogger } from '../../log.ts';
import {
  MARIADB_USERS,
  REDIS_USERS,
  SECURE_DATABASE,
  SECURE_DATA_PORTS,
  ensureDataSecrets,
  redisAclFile,
  secureDataPaths,
  writeSecureDataProfiles,
  type SecureDataPaths,
} from './secure-data.ts';
import {
  SECURE_HOST,
  SECURE_PORTS,
  SECURE_USERS,
  adminClientProperties,
  ensureCertificateNames,
  ensureSecrets,
  readSecret,
  scramFormatArgs,
  secureAcls,
  secureProfile,
  secureProperties,
  writeSecret,
  type SecurePaths,
  type SecureUser,
} from './secure.ts';
import { kraftNodeProperties, type StackPaths } from './services.ts';

/** The profile's services, named as the stack names them; containers reach each other by these names. */
export const COMPOSE_HOSTS = {
  kafka: 'kafka-secure',
  redis: 'redis-secure',
  mariadb: 'mariadb-secure',
} as const;

/** The broker's SASL_SSL listener for containers, advertised as kafka-secure:29192 (the host keeps 127.0.0.1:9192). */
export const COMPOSE_KAFKA_INTERNAL_PORT = 29192;

/** Where each container finds its secrets (the Docker secrets convention). */
export const COMPOSE_SECRETS_DIR = '/run/secrets';

/** Kafka's data folder in its container (a named volume). */
export const COMPOSE_KAFKA_DATA = '/var/lib/kafka/data';

export const composeSecret = (name: string): string => `${COMPOSE_SECRETS_DIR}/${name}`;

/** The folder of the files `compose-secrets` writes beside the secure stack's own (.stack/secure/compose). */
export const composeDir = (paths: SecurePaths): string => join(paths.dir, 'compose');

/** Every Docker secret of the profile and the host file it is made from. */
export function composeSecretFiles(paths: SecureDataPaths & SecurePaths): Record<string, string> {
  const dir = composeDir(paths);
  return {
    ca_pem: paths.caFile,
    broker_keystore_pem: paths.brokerKeystore,
    server_pem: paths.serverCert,
    server_key: paths.serverKey,
    ...Object.fromEntries(SECURE_USERS.map((u) => [`kafka_${u}_password`, paths.passwordFile(u)])),
    ...Object.fromEntries(REDIS_USERS.map((u) => [`redis_${u}_password`, paths.redisPasswordFile(u)])),
    ...Object.fromEntries(MARIADB_USERS.map((u) => [`mariadb_${u}_password`, paths.mariadbPasswordFile(u)])),
    kafka_server_properties: join(dir, 'kafka-server.properties'),
    kafka_format_args: join(dir, 'kafka-format.args'),
    kafka_admin_client_properties: join(dir, 'kafka-admin-client.properties'),
    redis_users_acl: join(dir, 'redis-users.acl'),
  };
}

/**
 * Which secrets each service of the profile gets (in a volume of its own, at /run/secrets): what it needs and no more.
 * The setup container holds the admin and root logins; the pipeline only its own users' passwords.
 */
export const COMPOSE_SERVICE_SECRETS: Readonly<Record<string, readonly string[]>> = {
  'kafka-secure': ['ca_pem', 'broker_keystore_pem', 'kafka_server_properties', 'kafka_format_args', 'kafka_admin_client_properties'],
  'redis-secure': ['ca_pem', 'server_pem', 'server_key', 'redis_users_acl', 'redis_admin_password'],
  'mariadb-secure': ['ca_pem', 'server_pem', 'server_key', 'mariadb_root_password'],
  'secure-setup': ['ca_pem', 'kafka_admin_password', 'mariadb_root_password', ...DB_USERS.map((u) => `mariadb_${u}_password`)],
  'pipeline-secure': ['ca_pem', 'kafka_tagstream_password', 'redis_tagstream_password', 'mariadb_tagstream_password'],
}; // prettier-ignore

const LISTENER_KEYS =
  /^(controller\.quorum\.voters|listeners|advertised\.listeners|listener\.security\.protocol\.map|inter\.broker\.listener\.name)=/;

/**
 * The profile broker's server.properties: secureProperties (SASL, TLS, the authorizer, super user) with the files at
 * their container paths, and the listeners of a container: the host's SASL_SSL (9192) and mTLS (9194) listeners on
 * every interface (published on the host's loopback only) and advertised at 127.0.0.1, a SASL_SSL listener for the
 * containers advertised at kafka-secure:29192 (also the broker's own), the controller on the container's loopback.
 */
export function composeKafkaProperties(adminPassword: string, partitions: number): string[] {
  const inContainer = {
    ...secureDataPaths('/'),
    brokerKeystore: composeSecret('broker_keystore_pem'),
    caFile: composeSecret('ca_pem'),
  };
  const base = secureProperties(inContainer, adminPassword);
  const p = SECURE_PORTS;
  const internal = `${COMPOSE_HOSTS.kafka}:${COMPOSE_KAFKA_INTERNAL_PORT}`;
  const lines = [
    `controller.quorum.voters=1@${SECURE_HOST}:${p.controller}`,
    `listeners=SASL_SSL://0.0.0.0:${p.sasl},SSL://0.0.0.0:${p.mtls},INTERNAL://0.0.0.0:${COMPOSE_KAFKA_INTERNAL_PORT},CONTROLLER://${SECURE_HOST}:${p.controller}`,
    `advertised.listeners=SASL_SSL://${SECURE_HOST}:${p.sasl},SSL://${SECURE_HOST}:${p.mtls},INTERNAL://${internal}`,
    'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL,SSL:SSL,INTERNAL:SASL_SSL',
    'inter.broker.listener.name=INTERNAL',
    ...base.filter((l) => !LISTENER_KEYS.test(l)),
    // The containers' listener logs clients in as the host's does (SCRAM; the broker's own login as admin).
    ...base
      .filter((l) => l.startsWith('listener.name.sasl_ssl.'))
      .map((l) => l.replace('listener.name.sasl_ssl.', 'listener.name.internal.')),
  ];
  return kraftNodeProperties(lines, COMPOSE_KAFKA_DATA, partitions);
}

/**
 * `npm run stack -- compose-secrets`: the passwords, CA and certificates the secure stack uses (made when missing,
 * as `up --secure` makes them; certificates without the compose names signed again), then the profile's own files
 * in .stack/secure/compose/ (mode 600) and the config profiles for clients on the host. Starts nothing.
 */
export function writeComposeSecrets(config: Config, stack: StackPaths, log: (l: string) => void): string[] {
  const paths = secureDataPaths(stack.stackDir);
  if (ensureSecrets(paths))
    log(
      'secure stack: new Kafka passwords; a kafka-secure storage made before them has the old ones (docs/security.md)',
    );
  ensureDataSecrets(paths);
  ensureCertificateNames(paths, log);
  const dir = composeDir(paths);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = composeSecretFiles(paths);
  const kafkaPasswords = Object.fromEntries(
    SECURE_USERS.map((u) => [u, readSecret(paths.passwordFile(u))]),
  ) as Record<SecureUser, string>;
  const redisPasswords = Object.fromEntries(
    REDIS_USERS.map((u) => [u, readSecret(paths.redisPasswordFile(u))]),
  ) as Record<(typeof REDIS_USERS)[number], string>;
  const contents: Record<string, string> = {
    kafka_server_properties: [
      '# Written by `npm run stack -- compose-secrets`: kafka-secure of docker-compose.yml (profile secure).',
      ...composeKafkaProperties(kafkaPasswords.admin, config.kafka.partitions),
    ].join('\n'),
    // One argument a line (no spaces in them: hex passwords): the container splits them with globbing off.
    kafka_format_args: scramFormatArgs(kafkaPasswords).join('\n'),
    kafka_admin_client_properties: adminClientProperties(kafkaPasswords.admin, composeSecret('ca_pem')).join(
      '\n',
    ),
    redis_users_acl: redisAclFile(redisPasswords, config.featureStore.redisPrefix).trimEnd(),
  };
  for (const [name, text] of Object.entries(contents)) writeSecret(files[name]!, text);
  // Clients on the host reach the published ports as they reach the local secure stack: the same profiles.
  for (const user of ['tagstream', 'reader', 'producer'] as const)
    writeFileSync(join(paths.dir, `${user}.yaml`), secureProfile(paths, user));
  writeSecureDataProfiles(paths, (user) => secureProfile(paths, user));
  return Object.values(files);
}

/** The environment of a tagstream container on the profile's services as `tagstream` (secrets by file). */
export function composeClientEnv(): Record<string, string> {
  const r = SECURE_DATA_PORTS.redis;
  const m = SECURE_DATA_PORTS.mariadb;
  return {
    KAFKA_BROKERS: `${COMPOSE_HOSTS.kafka}:${COMPOSE_KAFKA_INTERNAL_PORT}`,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'tagstream',
    KAFKA_SASL_PASSWORD_FILE: composeSecret('kafka_tagstream_password'),
    KAFKA_SSL_CA_FILE: composeSecret('ca_pem'),
    REDIS_URL: `rediss://tagstream@${COMPOSE_HOSTS.redis}:${r}`,
    REDIS_PASSWORD_FILE: composeSecret('redis_tagstream_password'),
    REDIS_TLS_CA_FILE: composeSecret('ca_pem'),
    MYSQL_URL: `mysql://tagstream@${COMPOSE_HOSTS.mariadb}:${m}/${SECURE_DATABASE}`,
    MYSQL_PASSWORD_FILE: composeSecret('mariadb_tagstream_password'),
    MYSQL_SSL_MODE: 'VERIFY_IDENTITY',
    MYSQL_SSL_CA_FILE: composeSecret('ca_pem'),
  };
}

/** Where the setup finds its secrets and the two servers it sets up. */
export interface ComposeSetupTargets {
  readonly secretsDir: string;
  /** host:port of a SASL_SSL listener. */
  readonly kafka: string;
  /** host:port of the MariaDB. */
  readonly mariadb: string;
}

export const COMPOSE_SETUP_TARGETS: ComposeSetupTargets = {
  secretsDir: COMPOSE_SECRETS_DIR,
  kafka: `${COMPOSE_HOSTS.kafka}:${COMPOSE_KAFKA_INTERNAL_PORT}`,
  mariadb: `${COMPOSE_HOSTS.mariadb}:${SECURE_DATA_PORTS.mariadb}`,
};

/**
 * `npm run stack -- compose-setup`, in the profile's setup container once the servers answer: what `up --secure`
 * does on every `up` with the same code: the ACLs of each principal as admin (secureAcls), the migrations of the
 * database as root, then the least-privilege users and their grants (createUsers). Idempotent.
 */
export async function composeSetup(
  config: Config,
  log: (l: string) => void,
  targets: ComposeSetupTargets = COMPOSE_SETUP_TARGETS,
): Promise<void> {
  const secret = (name: string): string => readSecret(join(targets.secretsDir, name));
  const caFile = join(targets.secretsDir, 'ca_pem');
  const security: KafkaSecurity = {
    protocol: 'SASL_SSL',
    sasl: { mechanism: 'SCRAM-SHA-512', username: 'admin', password: secret('kafka_admin_password') },
    ssl: { caFile, certFile: '', keyFile: '', keyPassword: '' },
  };
  const acls = secureAcls(config.topics);
  await createAcls(
    {
      brokers: [targets.kafka],
      clientId: 'tagstream-stack',
      connectTimeoutMs: 10_000,
      log: createLogger('stack', 'silent'),
      security,
    },
    acls,
  );
  log(`kafka-secure: ${acls.length} ACLs in place`);
  const root = new URL(`mysql://${targets.mariadb}/${SECURE_DATABASE}`);
  root.username = 'root';
  root.password = secret('mariadb_root_password');
  const rootUrl = `${root.toString()}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(caFile)}`;
  const applied = await migrate(rootUrl);
  await createUsers(
    rootUrl,
    SECURE_DATABASE,
    Object.fromEntries(DB_USERS.map((u) => [u, secret(`mariadb_${u}_password`)])) as Record<DbUser, string>,
  );
  log(
    `mariadb-secure: database ${SECURE_DATABASE}${applied.length ? `, applied ${applied.join(', ')}` : ''}; users ${DB_USERS.join(', ')}`,
  );
}
