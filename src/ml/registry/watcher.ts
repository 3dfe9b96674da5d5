// Hot model swap for one pipeline instance: loads the production models from the registry at start, then follows
// models.versions and swaps a service's model in place when a newer promotion is announced, with no restart.
//
// Why nothing stalls: the watcher has its own consumer (a group unique to this instance and run, so every instance
// sees every record and the pipeline's own consumer group never rebalances), and the new model is loaded while
// the old one keeps serving. The swap itself is one synchronous Map.set, so a reader gets either the old or the
// new model, always a complete one. The replaced model is closed only once its grace period is over and no
// prediction is running on it (a reference count), so a prediction that started on it still finishes.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError, toTagstreamError } from '../../errors.ts';
import { mapKafkaError, type KafkaClient, type KafkaConsumer } from '../../io/kafka/client.ts';
import type { AvroSerde } from '../../io/registry/registry.ts';
import type { Logger } from '../../log.ts';
import type { ModelVersion } from '../../schemas/types.ts';
import type { ModelSpec } from '../model-spec.ts';
import { loadModel, type LoadOptions, type OnnxModel } from '../onnx/session.ts';
import { ensureModelVersionsTopic } from './publisher.ts';
import type { DriftReference } from '../drift.ts';
import {
  verifySha256,
  type ModelMetrics,
  type ModelRecord,
  type ModelRegistry,
  type PredictionInterval,
} from './registry.ts';

/** What orders two promotions of one service. */
export interface PromotionRef {
  readonly version: string;
  /** ms since epoch UTC; strictly increasing per service (the registry guarantees it). */
  readonly promotedAt: number;
}

/**
 * The newest-wins rule: `candidate` replaces `current` when it was promoted later. A rollback is a new promotion
 * (of an older version) with a newer promoted_at, so it wins; an old announcement read after a newer one does
 * not. Equal times (never written by the registry) are broken by the version name so every instance agrees; the
 * same version and time is the model already served.
 */
export function isNewer(candidate: PromotionRef, current: PromotionRef | undefined): boolean {
  if (current === undefined) return true;
  if (candidate.promotedAt !== current.promotedAt) return candidate.promotedAt > current.promotedAt;
  return candidate.version > current.version;
}

export type ModelState = 'serving' | 'retired' | 'closed';

/** Runs `fn` after `ms`; returns a cancel function. Injected by tests. */
export type Timer = (fn: () => void, ms: number) => () => void;

const realTimer: Timer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref(); // a retired model waiting for its grace period never keeps the process alive
  return () => clearTimeout(t);
};

export interface LoadedModelInfo extends PromotionRef {
  readonly service: string;
  readonly algorithm: string;
  readonly sha256: string;
  readonly featureNames: readonly string[];
  readonly spec: ModelSpec;
  readonly metrics: ModelMetrics;
  readonly validationScore: number | null;
  /** The training data binned, for drift (absent for models registered without one). */
  readonly reference?: DriftReference;
  /** Offsets of the prediction interval (absent for models registered without one). */
  readonly interval?: PredictionInterval;
}

/**
 * A served model: the registry row's metadata plus its onnxruntime session, with a count of running predictions.
 * Take it from ModelWatcher.current() for each batch rather than keeping it: once replaced it stays usable for
 * the watcher's grace period, then closes.
 */
export class LoadedModel implements LoadedModelInfo {
  readonly service: string;
  readonly version: string;
  readonly promotedAt: number;
  readonly algorithm: string;
  readonly sha256: string;
  readonly featureNames: readonly string[];
  readonly spec: ModelSpec;
  readonly metrics: ModelMetrics;
  readonly validationScore: number | null;
  readonly reference?: DriftReference;
  readonly interval?: PredictionInterval;

  private running = 0;
  private status: ModelState = 'serving';
  private graceOver = false;
  private cancelGrace: (() => void) | undefined;
  private readonly closedSignal: Promise<void>;
  private signalClosed: () => void = () => undefined;

  constructor(
    info: LoadedModelInfo,
    private readonly model: OnnxModel,
    private readonly timer: Timer = realTimer,
  ) {
    this.service = info.service;
    this.version = info.version;
    this.promotedAt = info.promotedAt;
    this.algorithm = info.algorithm;
    this.sha256 = info.sha256;
    this.featureNames = info.featureNames;
    this.spec = info.spec;
    this.metrics = info.metrics;
    this.validationScore = info.validationScore;
    if (info.reference !== undefined) this.reference = info.reference;
    if (info.interval !== undefined) this.interval = info.interval;
    this.closedSignal = new Promise((resolve) => (this.signalClosed = resolve));
  }

  get state(): ModelState {
    return this.status;
  }

  /** Predictions running on this model now. */
  get inFlight(): number {
    return this.running;
  }

  get numericColumns(): number {
    return this.model.numericColumns;
  }

  get categoricalColumns(): number {
    return this.model.categoricalColumns;
  }

  /** As OnnxModel.predict; works until the model is closed (grace period over and nothing running on it). */
  async predict(
    numericRows: Float32Array,
    n: number,
    categorical?: readonly string[],
  ): Promise<Float32Array> {
    if (this.status === 'closed')
      throw new TagstreamError(
        'MODEL_ERROR',
        `${this.service} model ${this.version} was replaced and closed: take the model from current() for each batch`,
        { details: { service: this.service, version: this.version } },
      );
    this.running++;
    try {
      return await this.model.predict(numericRows, n, categorical);
    } finally {
      this.running--;
      this.maybeClose();
    }
  }

  /** Replaced: keeps serving whoever holds it for `graceMs`, then closes once no prediction runs on it. */
  retire(graceMs: number): void {
    if (this.status !== 'serving') return;
    this.status = 'retired';
    if (graceMs <= 0) this.graceOver = true;
    else
      this.cancelGrace = this.timer(() => {
        this.graceOver = true;
        this.maybeClose();
      }, graceMs);
    this.maybeClose();
  }

  /** Resolves once the session is released. */
  whenClosed(): Promise<void> {
    return this.closedSignal;
  }

  /** Ends the grace period now and resolves once running predictions finished and the session is released. */
  async close(): Promise<void> {
    if (this.status === 'serving') this.status = 'retired';
    this.cancelGrace?.();
    this.graceOver = true;
    this.maybeClose();
    await this.closedSignal;
  }

  private maybeClose(): void {
    if (this.status !== 'retired' || !this.graceOver || this.running > 0) return;
    this.status = 'closed';
    // A failed release leaves nothing to retry: the session is unusable either way.
    void this.model
      .close()
      .catch(() => undefined)
      .then(this.signalClosed);
  }
}

/** A consumer group id unique to this instance and run: every instance must read every announcement. */
export function modelWatcherGroupId(pipelineGroupId: string, instanceId: string = hostname()): string {
  return `${pipelineGroupId}-models-${instanceId}-${randomUUID().slice(0, 8)}`;
}

export interface ModelWatcherOptions {
  readonly config: Config;
  readonly kafka: KafkaClient;
  readonly serde: AvroSerde;
  readonly registry: Pick<ModelRegistry, 'get' | 'list'>;
  readonly log: Logger;
  /** Default: modelWatcherGroupId(config.pipeline.groupId, instanceId). */
  readonly groupId?: string;
  readonly instanceId?: string;
  /** Serve only these services (default: every service announced). */
  readonly services?: readonly string[];
  /** How long a replaced model stays usable for holders of it before it closes (default 10 s). */
  readonly graceMs?: number;
  /** How long a record whose load fails with a retryable error (database, registry down) is retried (default 60 s). */
  readonly retryForMs?: number;
  readonly loadOptions?: LoadOptions;
  readonly onSwap?: (service: string, version: string, previous: string | null) => void;
  readonly onError?: (error: TagstreamError, record: ModelVersion | null) => void;
  readonly timer?: Timer;
}

export interface WatcherStats {
  /** models.versions records read. */
  readonly records: number;
  readonly swaps: number;
  /** Announcements of a model not newer than the one served (replays, duplicates, other statuses). */
  readonly skipped: number;
  readonly errors: number;
}

type Outcome = 'swapped' | 'skipped';

export class ModelWatcher {
  private readonly models = new Map<string, LoadedModel>();
  private readonly retired = new Set<LoadedModel>();
  private readonly consumer: KafkaConsumer;
  private readonly groupId: string;
  private readonly topic: string;
  private readonly graceMs: number;
  private readonly retryForMs: number;
  private counts = { records: 0, swaps: 0, skipped: 0, errors: 0 };
  private running = false;

  constructor(private readonly options: ModelWatcherOptions) {
    this.topic = options.config.topics.modelVersions;
    this.groupId =
      options.groupId ?? modelWatcherGroupId(options.config.pipeline.groupId, options.instanceId);
    this.graceMs = options.graceMs ?? 10_000;
    this.retryForMs = options.retryForMs ?? 60_000;
    this.consumer = options.kafka.consumer({ groupId: this.groupId, readCommitted: true, maxWaitMs: 1_000 });
  }

  /** The model serving `service` now, or undefined before the first one loaded. Always a complete model. */
  current(service: string): LoadedModel | undefined {
    return this.models.get(service);
  }

  /** Service → version served now. */
  versions(): Record<string, string> {
    return Object.fromEntries([...this.models].map(([s, m]) => [s, m.version]));
  }

  stats(): WatcherStats {
    return { ...this.counts };
  }

  /** Predicts with the current model of `service` (taken and counted in one step, so a swap cannot close it). */
  async predict(
    service: string,
    numericRows: Float32Array,
    n: number,
    categorical?: readonly string[],
  ): Promise<{ version: string; values: Float32Array }> {
    const model = this.models.get(service);
    if (model === undefined)
      throw new TagstreamError(
        'MODEL_NOT_FOUND',
        `no ${service} model is loaded: promote one with \`npm run models -- promote ${service} <version>\``,
        { retryable: true, details: { service } },
      );
    return { version: model.version, values: await model.predict(numericRows, n, categorical) };
  }

  /** Loads the current production model of every (watched) service from the registry; returns the versions loaded. */
  async loadProduction(): Promise<string[]> {
    const wanted = this.options.services;
    const production = (await this.options.registry.list()).filter(
      (m) => m.status === 'production' && (wanted === undefined || wanted.includes(m.service)),
    );
    const loaded: string[] = [];
    for (const m of production) {
      const ref = { service: m.service, version: m.version, promotedAt: m.promotedAt ?? m.createdAt };
      try {
        if ((await this.install(ref, m.sha256, 'registry')) === 'swapped') loaded.push(m.version);
      } catch (e) {
        this.failed(toTagstreamError(e), null, `cannot load production model ${m.version}`);
      }
    }
    return loaded;
  }

  /** Loads production models from the registry, then follows the topic from its beginning. */
  async start(): Promise<void> {
    const { config, log } = this.options;
    await ensureModelVersionsTopic(config, this.options.kafka);
    await this.loadProduction();
    try {
      await this.consumer.connect();
      await this.consumer.subscribe([this.topic], { fromBeginning: true });
    } catch (e) {
      throw mapKafkaError(e, config.kafka.brokers, `subscribing to ${this.topic}`);
    }
    this.running = true;
    // No commits: the group is unique to this run, and the next run reads from the beginning again anyway.
    await this.consumer.run({
      eachBatch: async (batch, { heartbeat, isRunning }) => {
        for (const record of batch.records) {
          if (!isRunning()) return;
          this.counts.records++;
          await this.handle(record.value, heartbeat);
        }
      },
    });
    log.info(
      { topic: this.topic, group: this.groupId, versions: this.versions() },
      'model watcher following models.versions',
    );
  }

  /** Stops following the topic and closes every model once its running predictions finished. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.stop().catch(() => undefined);
    await this.consumer.disconnect().catch(() => undefined);
    const all = [...this.models.values(), ...this.retired];
    this.models.clear();
    this.retired.clear();
    await Promise.all(all.map((m) => m.close()));
  }

  private async handle(value: Buffer | null, heartbeat: () => Promise<void>): Promise<void> {
    let record: ModelVersion | null = null;
    try {
      await this.retrying(heartbeat, async () => {
        record = (await this.options.serde.decode(value)) as ModelVersion;
        if (record.status !== 'production') {
          this.counts.skipped++;
          return;
        }
        if (this.options.services !== undefined && !this.options.services.includes(record.service)) return;
        const outcome = await this.install(
          { service: record.service, version: record.version, promotedAt: record.promoted_at },
          record.sha256,
          'topic',
        );
        if (outcome === 'skipped') this.counts.skipped++;
      });
    } catch (e) {
      const r = record as ModelVersion | null;
      this.failed(
        toTagstreamError(e),
        r,
        r === null
          ? `cannot read a ${this.topic} record`
          : `cannot load ${r.service} model ${r.version}; still serving ${this.models.get(r.service)?.version ?? 'nothing'}`,
      );
    }
  }

  /** Retries retryable failures (database or schema registry away) with backoff for up to retryForMs. */
  private async retrying(heartbeat: () => Promise<void>, fn: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const err = toTagstreamError(e);
        if (!err.retryable || !this.running || Date.now() >= deadline) throw err;
        this.options.log.warn({ err, attempt }, 'model load failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
        await heartbeat().catch(() => undefined);
      }
    }
  }

  private failed(err: TagstreamError, record: ModelVersion | null, what: string): void {
    this.counts.errors++;
    this.options.log.error(
      { err, code: err.code, service: record?.service, version: record?.version },
      `${what}: ${err.message}`,
    );
    this.options.onError?.(err, record);
  }

  /** Loads the version if it is newer than the one served, and swaps it in. */
  private async install(
    ref: PromotionRef & { readonly service: string },
    announcedSha: string,
    source: 'registry' | 'topic',
  ): Promise<Outcome> {
    const { service, version } = ref;
    if (!isNewer(ref, this.models.get(service))) return 'skipped';
    const started = performance.now();
    const row: ModelRecord | undefined = await this.options.registry.get(service, version);
    if (row === undefined)
      throw new TagstreamError(
        'MODEL_NOT_FOUND',
        `${service} model ${version} was announced but is not in the registry database (is this instance on the same MYSQL_URL?)`,
        { details: { service, version } },
      );
    if (row.sha256 !== announcedSha)
      throw new TagstreamError(
        'MODEL_CHECKSUM_MISMATCH',
        `${service} model ${version}: announced sha256 ${announcedSha}, registry row ${row.sha256}`,
        { details: { service, version } },
      );
    verifySha256(row.onnx, row.sha256, `${service} model ${version}`);
    const onnx = await loadModel(row.onnx, this.options.loadOptions ?? { threads: 1 });
    const loadMs = performance.now() - started;
    // Another announcement may have been installed while this one loaded: check again, after the last await.
    const previous = this.models.get(service);
    if (!isNewer(ref, previous)) {
      await onnx.close();
      return 'skipped';
    }
    const model = new LoadedModel(
      {
        service,
        version,
        promotedAt: ref.promotedAt,
        algorithm: row.algorithm,
        sha256: row.sha256,
        featureNames: row.featureNames,
        spec: row.spec,
        metrics: row.metrics,
        validationScore: row.validationScore,
        ...(row.reference === undefined ? {} : { reference: row.reference }),
        ...(row.interval === undefined ? {} : { interval: row.interval }),
      },
      onnx,
      this.options.timer,
    );
    this.models.set(service, model); // the swap: readers see the old or the new model, never neither
    this.counts.swaps++;
    if (previous !== undefined) {
      this.retired.add(previous);
      previous.retire(this.graceMs);
      void previous.whenClosed().then(() => this.retired.delete(previous));
    }
    this.options.log.info(
      {
        service,
        version,
        previous: previous?.version ?? null,
        source,
        loadMs: Math.round(loadMs * 10) / 10,
        sincePromotionMs: Date.now() - ref.promotedAt,
      },
      'model swapped in',
    );
    this.options.onSwap?.(service, version, previous?.version ?? null);
    return 'swapped';
  }
}
