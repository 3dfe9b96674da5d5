// The validated configuration schema: every key, its default and its meaning. docs/configuration.md mirrors this file.
import { z } from 'zod';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port');

export const configSchema = z.object({
  kafka: z
    .object({
      /** Bootstrap brokers. Env: KAFKA_BROKERS (comma-separated). */
      brokers: z.array(hostPort).min(1).default(['127.0.0.1:9092']),
      clientId: z.string().min(1).default('tagstream'),
      /** Partitions for topics tagstream creates. */
      partitions: z.number().int().min(1).default(3),
      replicationFactor: z.number().int().min(1).default(1),
      /** retention.ms of topics tagstream creates; records carry event-time timestamps, so -1 (keep) by default. */
      topicRetentionMs: z.number().int().min(-1).default(-1),
      /** How long to wait for a broker when connecting, before giving up with KAFKA_UNAVAILABLE. */
      connectTimeoutMs: z.number().int().positive().default(10_000),
      /**
       * The Kafka client behind src/io/kafka/ (our adapter): kafkajs (pure JS, the default), or confluent
       * (@confluentinc/kafka-javascript, librdkafka: KIP-447 transactions), which is optional and installed with
       * `npm run clients -- install`. Env: TAGSTREAM__kafka__client.
       */
      client: z.enum(['kafkajs', 'confluent']).default('kafkajs'),
      /** How every client connects (docs/security.md). Env: KAFKA_SECURITY_PROTOCOL. */
      security: z
        .object({ protocol: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT') })
        .prefault({}),
      /** SASL credentials (protocol SASL_PLAINTEXT or SASL_SSL). Env: KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD(_FILE). */
      sasl: z
        .object({
          mechanism: z
            .enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'])
            .default('SCRAM-SHA-512'),
          username: z.string().default(''),
          /** A secret: redacted when printed; or read from passwordFile when loading (config/load.ts). */
          password: z.string().default(''),
          passwordFile: z.string().default(''),
          /**
           * OAUTHBEARER with OIDC client credentials (a managed Kafka such as Confluent Cloud): the client fetches a
           * token from tokenEndpointUrl as clientId / clientSecret. Env: KAFKA_OAUTH_TOKEN_ENDPOINT_URL, _CLIENT_ID,
           * _CLIENT_SECRET(_FILE), _SCOPE, _EXTENSIONS (k=v,k=v).
           */
          oauth: z
            .object({
              tokenEndpointUrl: z.string().default(''),
              clientId: z.string().default(''),
              /** A secret: redacted when printed; or read from clientSecretFile when loading. */
              clientSecret: z.string().default(''),
              clientSecretFile: z.string().default(''),
              scope: z.string().default(''),
              /** SASL extensions sent with the token; Confluent Cloud: logicalCluster, identityPoolId. */
              extensions: z.record(z.string(), z.string()).default({}),
            })
            .optional(),
        })
        .prefault({}),
      /** TLS (protocol SSL or SASL_SSL): PEM files. Env: KAFKA_SSL_CA_FILE, _CERT_FILE, _KEY_FILE, _KEY_PASSWORD(_FILE). */
      ssl: z
        .object({
          /** CA bundle to trust; empty: the system's CAs (a managed Kafka with a public certificate). */
          caFile: z.string().default(''),
          /** Client certificate and key for mTLS; both or neither. */
          certFile: z.string().default(''),
          keyFile: z.string().default(''),
          /** Password of an encrypted keyFile; a secret, or read from keyPasswordFile. */
          keyPassword: z.string().default(''),
          keyPasswordFile: z.string().default(''),
        })
        .prefault({}),
    })
    .superRefine((k, ctx) => {
      const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
      const sasl = k.security.protocol.startsWith('SASL_');
      const tls = k.security.protocol.endsWith('SSL');
      const oauth = k.sasl.mechanism === 'OAUTHBEARER';
      if (sasl && oauth) {
        const o = k.sasl.oauth;
        const needed = `needed with ${k.security.protocol} and kafka.sasl.mechanism OAUTHBEARER`;
        if (!o?.tokenEndpointUrl) issue(['sasl', 'oauth', 'tokenEndpointUrl'], needed);
        else if (!URL.canParse(o.tokenEndpointUrl) || !/^https?:$/.test(new URL(o.tokenEndpointUrl).protocol))
          issue(['sasl', 'oauth', 'tokenEndpointUrl'], 'expected an http(s):// URL');
        if (!o?.clientId) issue(['sasl', 'oauth', 'clientId'], needed);
        if (!o?.clientSecret && !o?.clientSecretFile)
          issue(['sasl', 'oauth', 'clientSecret'], `${needed} (or kafka.sasl.oauth.clientSecretFile)`);
        for (const [key, value] of Object.entries(o?.extensions ?? {}))
          if (
            !/^[A-Za-z]+$/.test(key) ||
            key === 'auth' ||
            !value ||
            /[,=]/.test(value) ||
            value.includes('\u0001')
          )
            issue(
              ['sasl', 'oauth', 'extensions', key],
              'expected a name of letters (not auth) and a non-empty value without , or =',
            );
      }
      if (sasl && !oauth && !k.sasl.username)
        issue(['sasl', 'username'], `needed with ${k.security.protocol}`);
      if (sasl && !oauth && !k.sasl.password && !k.sasl.passwordFile)
        issue(['sasl', 'password'], `needed with ${k.security.protocol} (or kafka.sasl.passwordFile)`);
      if (!sasl && (k.sasl.username || k.sasl.password || k.sasl.passwordFile || oauth || k.sasl.oauth))
        issue(
          ['security', 'protocol'],
          `is ${k.security.protocol}, but SASL credentials are set: use SASL_SSL (or SASL_PLAINTEXT)`,
        );
      if (sasl && !oauth && k.sasl.oauth)
        issue(['sasl', 'mechanism'], `is ${k.sasl.mechanism}, but kafka.sasl.oauth is set: use OAUTHBEARER`);
      const files = [k.ssl.caFile, k.ssl.certFile, k.ssl.keyFile, k.ssl.keyPassword, k.ssl.keyPasswordFile];
      if (!tls && files.some(Boolean))
        issue(
          ['security', 'protocol'],
          `is ${k.security.protocol}, but kafka.ssl files are set: use SSL or SASL_SSL`,
        );
      if (Boolean(k.ssl.certFile) !== Boolean(k.ssl.keyFile))
        issue(
          ['ssl', k.ssl.certFile ? 'keyFile' : 'certFile'],
          'mTLS needs both kafka.ssl.certFile and keyFile',
        );
    })
    .prefault({}),
  // Redis, MariaDB and the registry: each client takes its URL; the optional keys below are merged into it at load
  // (config/load.ts `withConnectionSettings`), so that every caller of the URL gets them (docs/security.md), and
  // configs built from a URL alone (`{ url }`) stay valid.
  schemaRegistry: z
    .object({
      /** Confluent-compatible API base. Env: SCHEMA_REGISTRY_URL. Apicurio serves it under /apis/ccompat/v7. */
      url: z.url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
      /** HTTP basic auth (Confluent Cloud: an API key and secret). Env: SCHEMA_REGISTRY_USERNAME, _PASSWORD(_FILE). */
      username: z.string().optional(),
      /** A secret: redacted when printed; or read from passwordFile when loading. */
      password: z.string().optional(),
      passwordFile: z.string().optional(),
      /** PEM CAs to trust for an https:// registry (unset: the system's). Env: SCHEMA_REGISTRY_TLS_CA_FILE. */
      tls: z.object({ caFile: z.string().optional() }).optional(),
    })
    .prefault({}),
  redis: z
    .object({
      /** Env: REDIS_URL. `rediss://` for TLS; `rediss://<user>@host:port` logs in as an ACL user. */
      url: z.string().default('redis://127.0.0.1:6379'),
      /** The user's password (a secret), or a file holding it. Env: REDIS_PASSWORD(_FILE). */
      password: z.string().optional(),
      passwordFile: z.string().optional(),
      /** PEM CAs to trust for a rediss:// URL (unset: the system's). Env: REDIS_TLS_CA_FILE. */
      tls: z.object({ caFile: z.string().optional() }).optional(),
    })
    .prefault({}),
  mysql: z
    .object({
      /** Env: MYSQL_URL. The database in the URL is created by `npm run stack -- up` if missing. */
      url: z.string().default('mysql://root@127.0.0.1:3306/tagstream'),
      /** The URL user's password (a secret), or a file holding it. Env: MYSQL_PASSWORD(_FILE). */
      password: z.string().optional(),
      passwordFile: z.string().optional(),
      /**
       * TLS, as the mysql client's --ssl-mode and --ssl-ca: DISABLED, REQUIRED (encrypt, trust anyone),
       * VERIFY_CA, VERIFY_IDENTITY (the CA and the host name); unset: as the URL says (plaintext unless it has
       * ssl-mode / ssl-ca; ssl-ca alone is VERIFY_CA). Env: MYSQL_SSL_MODE, MYSQL_SSL_CA_FILE.
       */
      ssl: z
        .object({
          mode: z.enum(['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY']).optional(),
          caFile: z.string().optional(),
        })
        .optional(),
    })
    .prefault({}),
  topics: z
    .object({
      /**
       * Put in front of every topic name once: `<namespace>.<prefix><base>` (config/topics.ts). The demo runs in
       * `demo-<run>`; empty: no namespace.
       */
      namespace: z.string().default(''),
      scans: z.string().default('rfid.scans'),
      transactions: z.string().default('pos.transactions'),
      weather: z.string().default('external.weather'),
      economic: z.string().default('external.economic'),
      calendar: z.string().default('external.calendar'),
      featuresRealtime: z.string().default('features.realtime.rows'),
      featuresWindowed: z.string().default('features.windowed.rows'),
      /** predictions.<service> */
      predictionsPrefix: z.string().default('predictions.'),
      alerts: z.string().default('alerts'),
      modelVersions: z.string().default('models.versions'),
      /** dlq.<source topic> */
      dlqPrefix: z.string().default('dlq.'),
      /** late.<source topic> */
      latePrefix: z.string().default('late.'),
      /** clean.<source topic>: validated records, the input of feature extraction. */
      cleanPrefix: z.string().default('clean.'),
      /** Internal: item scans and rental lines re-keyed by store|rental class for the per-class windows. */
      classEvents: z.string().default('tagstream.class-events'),
    })
    .prefault({}),
  pipeline: z
    .object({
      /** Consumer group id; instances with the same id share the partitions. */
      groupId: z.string().min(1).default('tagstream-ingest'),
      /** Written into every dead-letter envelope. */
      version: z.string().default('0.1.0'),
      /** exactly_once: outputs and consumed offsets commit in one Kafka transaction; at_least_once: idempotent producer, commit after ack. */
      processingGuarantee: z.enum(['exactly_once', 'at_least_once']).default('exactly_once'),
      /** Records produced but not yet acknowledged before partitions are paused (backpressure). */
      maxInFlight: z.number().int().positive().default(5_000),
      /** Records processed per transaction / commit. */
      maxBatch: z.number().int().positive().default(2_000),
      /**
       * exactly_once: the least time between the starts of two transactions of a task (Kafka Streams'
       * commit.interval.ms). Records that trickle in within it share one transaction and its markers; each hop of a
       * record may wait up to this long.
       */
      commitIntervalMs: z.number().int().min(0).default(0),
      /**
       * Partitions processed at once within one instance; the chunks of one task's partitions handed over together
       * commit in one transaction (docs/architecture.md, "Group commit").
       */
      partitionsConcurrently: z.number().int().min(1).default(16),
      /**
       * Partitions processed at once by a consumer group of sink nodes only (feature store, history, prediction cache):
       * their writes are idempotent and wait on the store, so several in flight keep it busy.
       */
      sinkPartitionsConcurrently: z.number().int().min(1).default(3),
      /** Bounded inputs: a consumed record whose value is larger is dead-lettered (RECORD_TOO_LARGE), undecoded. */
      maxRecordBytes: z.number().int().positive().default(65_536),
      /** Bounded inputs: a consumed record whose key is longer is dead-lettered (KEY_TOO_LONG), undecoded. */
      maxKeyBytes: z.number().int().positive().default(256),
      /** Upper bound for a graceful shutdown (stop fetching, drain, commit, disconnect). */
      shutdownTimeoutMs: z.number().int().positive().default(15_000),
      /**
       * Consumer session timeout: an instance that stops heartbeating (killed, frozen, cut off) loses its partitions
       * to the others after this long. Lower hands over sooner but risks a busy instance being taken for dead; the
       * broker accepts 6000–1800000 by default (group.min/max.session.timeout.ms).
       */
      sessionTimeoutMs: z.number().int().min(1_000).default(30_000),
      /**
       * Most bytes of records one fetch of a pipeline's consumer brings, over all its partitions and per partition
       * (kafkajs's defaults: 10 MiB and 1 MiB). A fetch is decoded into memory whole: smaller bounds keep the heap
       * a backlog grows smaller, at more fetches.
       */
      fetchMaxBytes: z.number().int().min(1_024).default(10_485_760),
      fetchMaxBytesPerPartition: z.number().int().min(1_024).default(1_048_576),
      /**
       * Wall-clock tick for stateful stages and the clean topics' flows: how often idle windows are checked and idle
       * partitions declared; also the least interval between two progress markers of a clean partition.
       */
      punctuateMs: z.number().int().positive().default(1_000),
      /** Upper bound for restoring a partition's state from its changelog topic. */
      restoreTimeoutMs: z.number().int().positive().default(120_000),
    })
    .prefault({}),
  validation: z
    .object({
      /** Event time may be at most this far ahead of the wall clock (reader clocks drift). */
      futureMarginMs: z
        .number()
        .int()
        .min(0)
        .default(5 * 60_000),
      /** Event time may be at most this many days in the past. */
      maxAgeDays: z
        .number()
        .int()
        .positive()
        .default(3 * 365),
      /** Known store ids; empty means any store id is accepted. */
      storeIds: z.array(z.string()).default(['S1', 'S2', 'S3']),
      /** Allowed |total_amount - sum(quantity*price)|. */
      totalTolerance: z.number().min(0).default(0.01),
    })
    .prefault({}),
  windows: z
    .object({
      /** How long after a window's end records are still accepted (event time). */
      graceMs: z
        .number()
        .int()
        .min(0)
        .default(10 * 60_000),
      /**
       * A clean partition caught up and without records this long is declared idle to the class windows; a window
       * partition whose channels are all idle and that has had no record this long follows the wall clock.
       */
      idleTimeoutMs: z.number().int().positive().default(30_000),
      /** For tumbling and daily windows: emit a result on every update, once when final, or both. */
      emit: z.enum(['update', 'final', 'both']).default('final'),
      /** Two reads of the same tag and scan type within this many ms are one scan (two readers at one door). */
      dedupWindowMs: z.number().int().min(0).default(2_000),
      /**
       * Updates held until the end of a batch (the sliding 7-day sums, the stock levels) also go out when a key's next
       * event falls in another bucket of this many ms of event time, so the offline log holds them at least this
       * finely whatever the batch size: training reads it as of each event, often from a backlog read in large batches,
       * and would otherwise see them staler than live serving does. 0: once per key and batch only.
       */
      heldBucketMs: z
        .number()
        .int()
        .min(0)
        .default(60 * 60_000),
    })
    .prefault({}),
  stores: z
    .object({
      /** IANA time zone per store id: daily windows run from local midnight to local midnight. */
      timeZones: z
        .record(z.string(), z.string())
        .default({ S1: 'America/New_York', S2: 'America/Chicago', S3: 'America/Los_Angeles' }),
      /** Zone of stores not listed above. */
      defaultTimeZone: z.string().default('UTC'),
    })
    .prefault({}),
  metrics: z
    .object({
      host: z.string().default('127.0.0.1'),
      /** /metrics for Prometheus; 0 picks a free port. */
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .prefault({}),
  stack: z
    .object({
      /** pid files, logs and Kafka data of the local stack (git-ignored). */
      dir: z.string().default('.stack'),
      /** Downloaded Kafka and Apicurio, outside the repo. */
      cacheDir: z.string().default('~/.cache/tagstream'),
      kafkaVersion: z.string().default('4.4.0'),
      kafkaHeapMb: z.number().int().positive().default(512),
      /** 3.x keeps schemas in a Kafka topic (durable, ids kept); 2.x in memory. */
      apicurioVersion: z.string().default('3.3.3'),
      registryHeapMb: z.number().int().positive().default(384),
      /**
       * JAVA_HOME for the registry; empty: `java` on PATH when it is new enough, else the newest JDK under /usr/lib/jvm
       * (Apicurio 2.6 runs on Java 17, 3.x needs 21+).
       */
      registryJavaHome: z.string().default(''),
      /** The topic Apicurio 3 keeps its schemas in (one partition, kept forever; created by `stack up`). */
      registryJournalTopic: z.string().default('tagstream-registry-journal'),
      readyTimeoutMs: z.number().int().positive().default(90_000),
    })
    .prefault({}),
  collectors: z
    .object({
      /** IANA zone the schedules run in and whose calendar day is "today" for a run's default range. */
      timeZone: z.string().min(1).default('UTC'),
      /** Folder the file provider reads: the simulator's output (`npm run simulate` writes .stack/sim/<seed>/external). */
      sourceDir: z.string().min(1).default('.stack/sim/42/external'),
      /** Further tries after a provider's first (retryable) failure, with exponential backoff and jitter. */
      retries: z.number().int().min(0).default(4),
      /** Wait before retry n (0-based): min(retryMaxMs, retryBaseMs * 2^n) times a random factor in [0.5, 1). */
      retryBaseMs: z.number().int().positive().default(1_000),
      retryMaxMs: z.number().int().positive().default(30_000),
      /** Timeout of one HTTP provider request. */
      httpTimeoutMs: z.number().int().positive().default(10_000),
      /** Daily weather per store: observed days are re-collected, forecasts replaced. */
      weather: z
        .object({
          schedule: z
            .string()
            .regex(/^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$/, 'expected a cron expression, e.g. "0 6 * * *"')
            .default('0 6 * * *'),
          enabled: z.boolean().default(true),
          /** file: <sourceDir>/<file>; http: GET <url> ({from} and {to} become YYYY-MM-DD), a JSON array of rows. */
          provider: z.enum(['file', 'http']).default('file'),
          file: z.string().min(1).default('weather.jsonl'),
          url: z.string().default(''),
          /** A scheduled run covers the days [today - lookbackDays, today + aheadDays], today in collectors.timeZone. */
          lookbackDays: z.number().int().min(0).default(3),
          aheadDays: z.number().int().min(0).default(7),
        })
        .prefault({}),
      /** Weekly economic indicators (global). */
      economic: z
        .object({
          schedule: z
            .string()
            .regex(/^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$/, 'expected a cron expression, e.g. "0 7 * * 1"')
            .default('0 7 * * 1'),
          enabled: z.boolean().default(true),
          /** file: <sourceDir>/<file>; http: GET <url> ({from} and {to} become YYYY-MM-DD), a JSON array of rows. */
          provider: z.enum(['file', 'http']).default('file'),
          file: z.string().min(1).default('economic.jsonl'),
          url: z.string().default(''),
          /** A scheduled run covers the days [today - lookbackDays, today + aheadDays], today in collectors.timeZone. */
          lookbackDays: z.number().int().min(0).default(28),
          aheadDays: z.number().int().min(0).default(0),
        })
        .prefault({}),
      /** Monthly event calendar; events up to 365 days past the range feed days_to_next_event. */
      calendar: z
        .object({
          schedule: z
            .string()
            .regex(/^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$/, 'expected a cron expression, e.g. "0 8 1 * *"')
            .default('0 8 1 * *'),
          enabled: z.boolean().default(true),
          /** file: <sourceDir>/<file>; http: GET <url> ({from} and {to} become YYYY-MM-DD), a JSON array of rows. */
          provider: z.enum(['file', 'http']).default('file'),
          file: z.string().min(1).default('calendar.jsonl'),
          url: z.string().default(''),
          /** A scheduled run covers the days [today - lookbackDays, today + aheadDays], today in collectors.timeZone. */
          lookbackDays: z.number().int().min(0).default(0),
          aheadDays: z.number().int().min(0).default(62),
        })
        .prefault({}),
      /** Nightly aggregates of id_item_master and id_transactions, one snapshot per day at 00:00 UTC. */
      historical: z
        .object({
          schedule: z
            .string()
            .regex(/^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$/, 'expected a cron expression, e.g. "30 2 * * *"')
            .default('30 2 * * *'),
          enabled: z.boolean().default(true),
          /** Days of scans behind the per-class aggregates (demand_rate, damage_rate, mean_quality_grade). */
          windowDays: z.number().int().positive().default(90),
        })
        .prefault({}),
    })
    .prefault({}),
  featureStore: z
    .object({
      /** Online (Redis) TTL of an entity's latest values, refreshed by every write that changes one of them. */
      onlineTtlSeconds: z.number().int().positive().default(3600),
      /** Prefix of the feature store's Redis keys: `<prefix>feat:<entity_id>`. */
      redisPrefix: z.string().default('ts:'),
      /** Rows per INSERT into ml_feature_store, and values per Redis script call. */
      writeBatch: z.number().int().positive().default(500),
      /**
       * Windows kept in the online store only: their values are many (a row per class, store and minute) and
       * training reads hours and days. Still on features.windowed for anyone who wants them.
       */
      onlineOnlyWindows: z.array(z.string()).default(['1m', '5m']),
      /**
       * What the offline log (ml_feature_store) keeps: `models`, the feature columns training reads
       * (src/features/vocabulary.ts trainingFeatureColumns); `all`, every value. The online store gets every value.
       */
      offlineFeatures: z.enum(['models', 'all']).default('models'),
      /**
       * How often the pipeline checks that Redis still holds the online store (its marker key); when Redis came back
       * empty, the newest value of every series in the offline log is written back. 0: never.
       */
      onlineCheckMs: z.number().int().min(0).default(30_000),
      /**
       * Point-in-time reads for serving (src/store/online.ts OnlineVersions): which features keep their recent values
       * by event time in Redis beside the latest, so that scoring reads them as of its event whatever its lag, as
       * training reads the offline log. `serving`: the streamed class features scoring reads
       * (src/features/vocabulary.ts servingAsOfColumns); `none`: latest values only.
       */
      versions: z
        .object({
          features: z.enum(['serving', 'none']).default('serving'),
          /** Event time kept before a feature's newest value (plus the newest value before that). */
          horizonMs: z
            .number()
            .int()
            .positive()
            .default(2 * 86_400_000),
          /** At most this many versions per entity and feature. */
          max: z.number().int().positive().default(512),
        })
        .prefault({}),
    })
    .prefault({}),
  serving: z
    .object({
      /** Run the serving flows (per-event inference, the six services, alert rules) with the pipeline. */
      enabled: z.boolean().default(true),
      /** Consumer group suffix of the serving flows: `<pipeline.groupId><groupSuffix>`. */
      groupSuffix: z.string().default('-serving'),
      /**
       * Partitions the serving group processes at once (pipeline.partitionsConcurrently is the streams group's).
       * Scoring waits for the sinks it reads through (serving.sinkWaitMs), so a serving group that runs ahead waits
       * rather than reading staler features; one that falls behind reads newer ones (docs/serving.md#sink-wait).
       */
      partitionsConcurrently: z.number().int().min(1).default(16),
      /** Micro-batching of inference: a batch goes when it has maxBatch events or maxWaitMs have passed. */
      maxBatch: z.number().int().positive().default(256),
      maxWaitMs: z.number().int().min(0).default(5),
      /**
       * One demand, pricing and restock prediction per class, store and target day per micro-batch (for the last
       * event of the class in it) instead of one per class event: within a micro-batch they are the same forecast.
       */
      collapseClassForecasts: z.boolean().default(true),
      /** The maintenance label and prediction: a damage or repair scan before the item's K-th next rental. */
      maintenanceK: z.number().int().min(1).default(3),
      /** Days of id_transactions the label-history features (demand lags, levels) are computed from. */
      historyDays: z.number().int().positive().default(70),
      /**
       * Scoring waits for the sinks it reads through: the history sink to store the scans it scores (their items'
       * histories come from id_transactions), the feature-store sink to store the class features of the events up to
       * the one it scores (online store). A partition whose sink stores nothing for this long is scored with what
       * is there; 0: no wait.
       */
      sinkWaitMs: z.number().int().min(0).default(60_000),
      /** Days of booked contracts the pack list covers. */
      packHorizonDays: z.number().int().positive().default(7),
      /** Pricing: multiplier = 1 + elasticity × (forecast / available − 1), kept within [min, max]. */
      pricing: z
        .object({
          elasticity: z.number().min(0).default(0.25),
          min: z.number().positive().default(0.8),
          max: z.number().positive().default(1.5),
        })
        .prefault({}),
      /** Nightly retrain inside the pipeline (cron, in retrainTimeZone); promotion goes through the gate. */
      retrain: z
        .object({
          enabled: z.boolean().default(false),
          schedule: z
            .string()
            .regex(/^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$/, 'expected a cron expression, e.g. "0 3 * * *"')
            .default('0 3 * * *'),
          timeZone: z.string().min(1).default('UTC'),
        })
        .prefault({}),
      /** Alert rule thresholds (warning, critical) and the per entity and rule throttle (event time). */
      alerts: z
        .object({
          /** p(damage or repair before the item's K-th next rental), at or above. */
          maintenance: z
            .object({ warning: z.number().default(0.5), critical: z.number().default(0.8) })
            .prefault({}),
          restock: z.object({ warning: z.number().default(1), critical: z.number().default(5) }).prefault({}),
          /** Expected grade (1 = poor … 5 = like new) at the next return, at or below. */
          quality: z
            .object({ warning: z.number().default(2.5), critical: z.number().default(1.5) })
            .prefault({}),
          /**
           * PSI of the last `window` rows a model scored (its inputs and predictions; a rental or a store's forecast
           * of a class for a day counted once) against its training data (src/serving/drift.ts); the predictions'
           * PSI at or above `warning` / `critical` raises a `drift` alert.
           */
          drift: z
            .object({
              window: z.number().int().min(10).default(500),
              warning: z.number().positive().default(0.1),
              critical: z.number().positive().default(0.25),
            })
            .prefault({}),
          throttleMs: z
            .number()
            .int()
            .min(0)
            .default(6 * 3_600_000),
        })
        .prefault({}),
    })
    .prefault({}),
  api: z
    .object({
      /** The REST API (src/api/): predictions, features, models, DLQ, health; 0 picks a free port. */
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /**
       * Bearer tokens (docs/security.md). When either is set, every route but /healthz, /readyz and /openapi.json
       * needs `Authorization: Bearer <token>`: the read token opens predictions, alerts, features and models; the
       * admin token also the dead letters (list, replay). Env: API_READ_TOKEN, API_ADMIN_TOKEN (API_TOKEN, the
       * older name, sets the admin token), or *_FILE naming a file that holds it.
       */
      readToken: z.string().default(''),
      readTokenFile: z.string().default(''),
      adminToken: z.string().default(''),
      adminTokenFile: z.string().default(''),
      /** Requests a minute per token (per client address without one) before 429 API_RATE_LIMITED; 0: no limit. */
      rateLimitPerMinute: z.number().int().min(0).default(600),
      /** Largest request body accepted (413 API_PAYLOAD_TOO_LARGE). */
      bodyLimitBytes: z.number().int().positive().default(65_536),
      /** PEM certificate (chain) and key files: serve HTTPS. Both or neither. Env: API_TLS_CERT_FILE, API_TLS_KEY_FILE. */
      tls: z
        .object({ certFile: z.string().default(''), keyFile: z.string().default('') })
        .refine((t) => (t.certFile === '') === (t.keyFile === ''), {
          message: 'set both api.tls.certFile and api.tls.keyFile, or neither',
        })
        .prefault({}),
      /** Predictions kept per service and entity in the Redis prediction cache (for time-range queries). */
      historyPerEntity: z.number().int().positive().default(500),
    })
    .prefault({}),
  log: z
    .object({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Terminal lines: pretty (one human line per entry) or json (one JSON object per line). Env: LOG_FORMAT. */
      format: z.enum(['pretty', 'json']).default('pretty'),
      /** When set, every entry at debug and above also goes to this file as JSON lines. Env: LOG_FILE. */
      file: z.string().default(''),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
