// One training run against the configured stores: what `npm run train` and the pipeline's nightly retrain both call,
// so the two cannot drift apart. Opens and closes its own connections.
import type { Config } from '../../../config/schema.ts';
import { zoneOf } from '../../features/zones.ts';
import { createKafka } from '../../io/kafka/client.ts';
import { createSql } from '../../io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../io/registry/registry.ts';
import type { Logger } from '../../log.ts';
import { createFeatureStore, featureStoreOptions } from '../../store/feature-store.ts';
import { kafkaModelPublisher, type ModelVersionPublisher } from '../registry/publisher.ts';
import { createModelRegistry } from '../registry/registry.ts';
import {
  DEFAULT_HOLDOUT_DAYS,
  TRAIN_SERVICES,
  runTrainingJob,
  type JobOptions,
  type JobResult,
} from './job.ts';

/** The job's options a caller chooses; the rest (zones, dedup and historical windows, drift window) come from the config. */
export type TrainChoices = Partial<Omit<JobOptions, 'zoneOf' | 'dedupWindowMs' | 'historicalWindow'>>;

export const DEFAULT_CHOICES = {
  services: TRAIN_SERVICES,
  holdoutDays: DEFAULT_HOLDOUT_DAYS,
  folds: 3,
  seed: 7,
  grid: 'default',
  promote: true,
  minImprovement: 0,
} as const satisfies TrainChoices;

export async function trainWithConfig(
  config: Config,
  choices: TrainChoices,
  io: { log: Logger; progress: (line: string) => void; now?: () => number },
): Promise<JobResult> {
  const sql = createSql(config.mysql.url, { connectionLimit: 4 });
  const store = createFeatureStore(featureStoreOptions(config));
  let publisher: ModelVersionPublisher | undefined;
  try {
    return await runTrainingJob(
      {
        ...DEFAULT_CHOICES,
        k: config.serving.maintenanceK,
        driftWindow: config.serving.alerts.drift.window,
        ...choices,
        zoneOf: zoneOf(config),
        dedupWindowMs: config.windows.dedupWindowMs,
        historicalWindow: `${config.collectors.historical.windowDays}d`,
      },
      {
        sql,
        store,
        registry: createModelRegistry(sql),
        publisher: async () => {
          publisher ??= await kafkaModelPublisher(
            config,
            createKafka(config, io.log, `${config.kafka.clientId}-train`),
            new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
          );
          return publisher;
        },
        now: io.now ?? (() => Date.now()),
        progress: io.progress,
      },
    );
  } finally {
    await Promise.allSettled([publisher?.close(), store.close(), sql.end()]);
  }
}
