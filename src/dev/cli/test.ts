// `npm test`: brings the stack up if it is not, runs unit and integration tests, then stops only what it started.
// Extra arguments go to vitest, e.g. `npm test -- --project unit` or `npm test -- test/operators`.
import { spawn, spawnSync } from 'node:child_process';
import { loadConfig } from '../../../config/load.ts';
import { isTagstreamError } from '../../errors.ts';
import { stackDown, stackUp } from '../stack/manager.ts';

const args = process.argv.slice(2);
const onlyUnit = args.includes('--project') && args[args.indexOf('--project') + 1] === 'unit';
const say = (line: string): void => console.log(`[stack] ${line}`);
const config = loadConfig();

let started: string[] = [];
if (!onlyUnit) {
  try {
    ({ started } = await stackUp(config, say));
  } catch (e) {
    console.error(isTagstreamError(e) ? `error [${e.code}]: ${e.message}` : e);
    console.error('the integration tests need the stack; unit tests alone: npm test -- --project unit');
    process.exit(1);
  }
}

// The adapter's contract test also runs the optional confluent client (kafka.client: confluent): built once into
// ~/.cache/tagstream/clients; when it cannot be (no C toolchain or -dev packages), the installer says which apt
// packages to add and that test fails naming the command.
if (!onlyUnit) spawnSync('npm', ['run', '-s', 'clients', '--', 'install'], { stdio: 'inherit' });

const vitest = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...args], {
  stdio: 'inherit',
});
const forward = (signal: NodeJS.Signals): void => {
  vitest.kill(signal);
};
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code: number = await new Promise((resolve) =>
  vitest.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
);

if (started.length) {
  say(`stopping what this run started: ${started.join(', ')}`);
  await stackDown(config, say, started);
}
process.exit(code);
