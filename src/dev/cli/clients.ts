// `npm run clients -- install|status`: optional Kafka clients behind our adapter (kafka.client), installed outside
// package.json because they build native code: a failed build must never break `npm ci`. Today: confluent
// (@confluentinc/kafka-javascript, librdkafka linked dynamically against Debian's -dev packages).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  CONFLUENT_APT_PACKAGES,
  CONFLUENT_PACKAGE,
  CONFLUENT_VERSION,
  clientsDir,
} from '../../io/kafka/confluent.ts';

const APT_LINE = `apt-get update && apt-get install -y --no-install-recommends ${CONFLUENT_APT_PACKAGES.join(' ')}`;

/** Loads the package in a fresh process (a native module once loaded cannot be reloaded): its librdkafka version. */
function probe(dir: string): string | undefined {
  const script = `const { createRequire } = require('node:module');
const r = createRequire(${JSON.stringify(join(dir, 'package.json'))});
process.stdout.write(r(${JSON.stringify(CONFLUENT_PACKAGE)}).librdkafkaVersion);`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  return run.status === 0 && run.stdout ? run.stdout : undefined;
}

function install(force: boolean): number {
  const dir = clientsDir();
  const present = probe(dir);
  if (present && !force) {
    console.log(`${CONFLUENT_PACKAGE} already installed in ${dir} (librdkafka ${present})`);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest))
    writeFileSync(manifest, JSON.stringify({ name: 'tagstream-clients', private: true }, null, 2) + '\n');
  console.log(
    `installing ${CONFLUENT_PACKAGE}@${CONFLUENT_VERSION} into ${dir} (builds librdkafka, ~1-3 min)`,
  );
  const run = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--save-exact', `${CONFLUENT_PACKAGE}@${CONFLUENT_VERSION}`],
    {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        // Link librdkafka against the system's zlib/ssl/zstd/lz4/sasl instead of downloading their sources, and
        // build at once instead of trying to download a prebuilt binary first (neither download works offline).
        CKJS_LINKING: 'dynamic',
        npm_config_build_from_source: 'true',
      },
    },
  );
  const version = run.status === 0 ? probe(dir) : undefined;
  if (!version) {
    const missing = CONFLUENT_APT_PACKAGES.filter(
      (p) =>
        spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout !==
        'install ok installed',
    );
    console.error(
      `${CONFLUENT_PACKAGE} did not build or load; it needs a C toolchain and ` +
        (missing.length
          ? `these Debian packages (missing: ${missing.join(' ')}): ${APT_LINE}`
          : `Debian's: ${APT_LINE}`),
    );
    return 1;
  }
  console.log(
    `${CONFLUENT_PACKAGE} installed in ${dir} (librdkafka ${version}); select it with kafka.client: confluent`,
  );
  return 0;
}

const program = new Command('clients')
  .description(
    'optional Kafka clients for kafka.client (installed outside package.json: they build native code)',
  )
  .showHelpAfterError();

program
  .command('install')
  .description(
    `build and install ${CONFLUENT_PACKAGE}@${CONFLUENT_VERSION} (kafka.client: confluent) into ${clientsDir()}`,
  )
  .option('--force', 'reinstall even when it loads')
  .action((opts: { force?: boolean }) => {
    process.exitCode = install(opts.force ?? false);
  });

program
  .command('status')
  .description('which optional clients are installed')
  .action(() => {
    const version = probe(clientsDir());
    console.log(
      version
        ? `confluent  installed (${CONFLUENT_PACKAGE}, librdkafka ${version}) in ${clientsDir()}`
        : `confluent  not installed: npm run clients -- install`,
    );
  });

program.parse();
