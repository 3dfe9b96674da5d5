// `npm run demo`: the main job, end to end on this machine (see src/dev/demo/demo.ts for the steps).
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import { MIN_DEMO_DAYS, runDemo } from '../demo/demo.ts';
import { createLogger } from '../../log.ts';
import { int, withLogOptions } from '../../cli/args.ts';
import { runCli } from '../../cli/run.ts';

interface Opts {
  quick?: boolean;
  stores?: number;
  days?: number;
  speed?: number;
  seed: number;
  keepStack?: boolean;
  exit?: boolean;
}

const program = new Command('demo')
  .description(
    'The whole system on this machine: brings up the stack if needed, simulates a history of rentals and streams it ' +
      'through the pipeline, trains and promotes the first models, then streams a live day at an accelerated speed ' +
      'while the running pipeline scores every event (demand, maintenance, quality, pricing, restock, pack) and raises ' +
      'alerts, with a live view and /metrics. Runs in its own namespace (topics demo-<run>.*, database tagstream_demo). ' +
      'Ctrl-C stops it cleanly.',
  )
  .addOption(
    new Option('--quick', 'a small history and a fast live day: done in under 3 minutes, then exits'),
  )
  .addOption(new Option('--stores <n>', 'stores simulated (default 3; --quick 2)').argParser(int(1)))
  .addOption(
    new Option(
      '--days <n>',
      `days of history before the live day (default 365; --quick 30; at least ${MIN_DEMO_DAYS}, the least that ` +
        'trains a model; the training holdout is a quarter of it, 7 to 14 days)',
    ).argParser(int(MIN_DEMO_DAYS)),
  )
  .addOption(
    new Option(
      '--speed <x>',
      'the live day at this many times real time (default 288: 5 min; --quick 2880: 30 s)',
    ).argParser(int(1)),
  )
  .addOption(new Option('--seed <n>', 'simulator seed').default(42).argParser(int(0)))
  .addOption(new Option('--keep-stack', 'leave Kafka and the registry running if the demo started them'))
  .addOption(
    new Option('--exit', 'exit after the live day instead of serving until Ctrl-C (implied by --quick)'),
  )
  .showHelpAfterError()
  .action((opts: Opts) =>
    runCli(async () => {
      const config = loadConfig();
      const quick = opts.quick === true;
      // The demo talks to the terminal: there the components log only problems (warnings and errors; LOG_LEVEL
      // changes that), one human line each; the whole log goes to a file under .stack/logs/.
      const file = join(
        config.stack.dir,
        'logs',
        `demo-${new Date().toISOString().replace(/[:.]/g, '-')}.log`,
      );
      const log = createLogger('demo', {
        level: process.env['LOG_LEVEL'] ?? 'warn',
        format: config.log.format,
        file: config.log.file || file,
      });
      console.log(`full log: ${config.log.file || file}`);
      await runDemo(
        config,
        {
          quick,
          stores: opts.stores ?? (quick ? 2 : 3),
          historyDays: opts.days ?? (quick ? 30 : 365),
          speed: opts.speed ?? (quick ? 2880 : 288),
          seed: opts.seed,
          keepStack: opts.keepStack === true,
          stay: !quick && opts.exit !== true,
          tty: process.stdout.isTTY === true,
        },
        log,
        (line) => console.log(line),
      );
    }),
  );

withLogOptions(program);
await program.parseAsync();
// Everything the demo started is stopped by now; a library timer must not keep the process alive.
process.exit();
