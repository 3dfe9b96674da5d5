// `npm run bench:history`: the history sink's MariaDB path alone. Simulates `--days` × `--stores` of scans, takes
// the valid ones in arrival order (late ones included, as the broker delivers them) and stores them in batches of
// `--batch` through storeScans, exactly as the sink does per micro-batch: insert the new scans, update the touched
// items. Prints scans/s overall and for the last tenth (an item's cost must not grow with its history), and checks
// the items against the whole-history recompute at the end. Uses a throwaway database, dropped at the end.
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { storeScans, type SourcedScan } from '../src/app/history-sink.ts';
import { UPSERT_ITEMS_SQL, upsertItemsParams, yearStartUtc } from '../src/batch/history.ts';
import { inArrivalOrder } from '../src/dev/sim/arrival.ts';
import { simulate } from '../src/dev/sim/model.ts';
import { migrate } from '../src/io/mysql/migrate.ts';
import { createSql, splitDatabase, withDatabase } from '../src/io/mysql/pool.ts';

const opts = new Command('bench:history')
  .description('Measure the history sink (id_transactions + id_item_master) on the running MariaDB')
  .option('--days <n>', 'simulated days', '365')
  .option('--stores <n>', 'simulated stores', '3')
  .option('--batch <n>', 'scans per storeScans call (the pipeline micro-batch)', '500')
  .option('--no-check', 'skip the comparison with the whole-history recompute')
  .parse()
  .opts<{ days: string; stores: string; batch: string; check: boolean }>();

const config = loadConfig();
const mysqlUrl = withDatabase(config.mysql.url, `tagstream_bench_${randomUUID().slice(0, 8)}`);
const batchSize = Number(opts.batch);
const dedupWindowMs = config.windows.dedupWindowMs;

const sim = simulate({ stores: Number(opts.stores), days: Number(opts.days), seed: 7 });
const scans: SourcedScan[] = [];
for (const ev of inArrivalOrder(sim.events))
  if (ev.kind === 'scan' && ev.malformed === null && !ev.duplicate)
    scans.push({ scan: ev.scan, topic: 'clean.rfid.scans', partition: 0, offset: String(scans.length) });
const now = scans.reduce((m, s) => Math.max(m, s.scan.scan_date), 0);
console.log(
  `bench:history: ${scans.length} scans, ${opts.days} days x ${opts.stores} stores, batches of ${batchSize}`,
);

await migrate(mysqlUrl);
const sql = createSql(mysqlUrl);
try {
  const started = performance.now();
  const tenth = Math.floor(scans.length * 0.9);
  let tailStart = started;
  let lastReport = started;
  for (let i = 0; i < scans.length; i += batchSize) {
    if (i >= tenth && tailStart === started) tailStart = performance.now();
    await storeScans(sql, scans.slice(i, i + batchSize), { dedupWindowMs, now });
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      const rate = (i + batchSize) / ((lastReport - started) / 1000);
      console.log(
        `  ${Math.min(i + batchSize, scans.length)}/${scans.length} scans, ${rate.toFixed(0)} scans/s`,
      );
    }
  }
  const ended = performance.now();
  const overall = scans.length / ((ended - started) / 1000);
  const tail = (scans.length - tenth) / ((ended - tailStart) / 1000);
  if (opts.check) {
    const before = await sql.query('SELECT * FROM id_item_master ORDER BY tag_id');
    const tags = before.map((r) => (r as { tag_id: string }).tag_id);
    for (let i = 0; i < tags.length; i += 500)
      await sql.execute(
        UPSERT_ITEMS_SQL,
        upsertItemsParams(tags.slice(i, i + 500), dedupWindowMs, yearStartUtc(now)),
      );
    const after = await sql.query('SELECT * FROM id_item_master ORDER BY tag_id');
    const differing = before.filter((r, k) => JSON.stringify(r) !== JSON.stringify(after[k])).length;
    console.log(`check: ${tags.length} items, ${differing} differ from the whole-history recompute`);
    if (differing > 0) process.exitCode = 1;
  }
  console.log(
    `history: ${overall.toFixed(0)} scans/s overall, ${tail.toFixed(0)} scans/s over the last tenth, ` +
      `${scans.length} scans in ${((ended - started) / 1000).toFixed(1)} s`,
  );
} finally {
  await sql.execute(`DROP DATABASE IF EXISTS \`${splitDatabase(mysqlUrl).database}\``);
  await sql.end();
}
