// `npm run chaos`: the chaos suite (src/dev/chaos/run.ts). The last line is the summary:
// `chaos: <K> faults, <L> lost, <D> duplicated, <M> mismatched, peak rss <R> MiB`; the exit code is 1 when anything
// was lost, duplicated or mismatched.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import { int } from '../../cli/args.ts';
import { runCli } from '../../cli/run.ts';
import { createLogger } from '../../log.ts';
import { runChaos, type ChaosOptions } from '../chaos/run.ts';

interface Opts {
  quick?: boolean;
  seed: number;
  stores?: number;
  days?: number;
  instances?: number;
  joins: number;
  kills?: number;
  duration?: number;
  outage: number;
  partitions: number;
  keep?: boolean;
}

const program = new Command('chaos')
  .description(
    'Run the simulator through the real pipeline twice on the same input: once uninterrupted, once under seeded ' +
      'faults (kill -9 of instances, instances joining and leaving, broker and registry restarts, Redis and MariaDB ' +
      'down, garbage and oversized records into every consumed topic), then compare every output topic ' +
      '(read_committed), ml_feature_store, id_transactions, id_item_master and the online store. Runs on services ' +
      'of its own (Kafka, registry, mariadbd, redis-server on free ports), never on the shared stack or the ' +
      "machine's databases. Full run: npm run chaos -- --days 30 --instances 3 --kills 100",
  )
  .addOption(
    new Option(
      '--quick',
      'a small run for the test suite (under 5 minutes): 2 stores x 5 days, 1 instance, 2 kills, 120 s of faults',
    ),
  )
  .addOption(
    new Option('--seed <n>', 'seed of the input and of the fault schedule').default(7).argParser(int(0)),
  )
  .addOption(new Option('--stores <n>', 'stores simulated (default 3; --quick 2)').argParser(int(1)))
  .addOption(new Option('--days <n>', 'days simulated (default 30; --quick 5)').argParser(int(1)))
  .addOption(
    new Option('--instances <n>', 'instances running all along (default 3; --quick 1)').argParser(int(1)),
  )
  .addOption(new Option('--joins <n>', 'instances that join and later leave').default(2).argParser(int(0)))
  .addOption(new Option('--kills <n>', 'kill -9 cycles (default 100; --quick 2)').argParser(int(0)))
  .addOption(
    new Option(
      '--duration <s>',
      'seconds of the fault phase (default max(240, 15 x kills); --quick 120)',
    ).argParser(int(30)),
  )
  .addOption(new Option('--outage <s>', 'seconds Redis and MariaDB stay down').default(60).argParser(int(1)))
  .addOption(new Option('--partitions <n>', 'partitions of every topic').default(6).argParser(int(1)))
  .addOption(new Option('--keep', "keep the run's Kafka and MariaDB data (logs are always kept)"))
  .showHelpAfterError()
  .action((opts: Opts) =>
    runCli(async () => {
      const q = opts.quick === true;
      const kills = opts.kills ?? (q ? 2 : 100);
      const options: ChaosOptions = {
        seed: opts.seed,
        stores: opts.stores ?? (q ? 2 : 3),
        days: opts.days ?? (q ? 5 : 30),
        instances: opts.instances ?? (q ? 1 : 3),
        joins: opts.joins,
        kills,
        durationS: opts.duration ?? (q ? 120 : Math.max(240, 15 * kills)),
        outageS: opts.outage,
        partitions: opts.partitions,
        keep: opts.keep === true,
      };
      const base = loadConfig();
      const log = createLogger('chaos', {
        level: 'silent',
        file: join(base.stack.dir, 'logs', `chaos-${Date.now()}.log`),
        fileLevel: 'info',
      });
      const say = (line: string): void => console.log(line);
      const r = await runChaos(base, options, say, log);
      say(`took ${(process.uptime() / 60).toFixed(1)} min; logs in ${r.dir}`);
      if (r.faults < r.scheduled) say(`only ${r.faults} of ${r.scheduled} scheduled faults happened`);
      say(
        `chaos: ${r.faults} faults, ${r.lost} lost, ${r.duplicated} duplicated, ${r.mismatched} mismatched, peak rss ${r.peakRssMiB} MiB`,
      );
      if (r.lost + r.duplicated + r.mismatched > 0 || r.faults < r.scheduled) process.exitCode = 1;
    }),
  );

await program.parseAsync();
