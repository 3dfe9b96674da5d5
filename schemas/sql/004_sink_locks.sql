-- One row per source partition a sink writes non-idempotent effects from (the history sink's item counters): a
-- sink's transaction first locks its partitions' rows here, in order, so two instances writing the same partition at
-- once (a zombie that lost the partition and its successor) run one after the other, and the second sees what the
-- first stored. Rows are created on first use and never deleted; they hold no data but the
-- sink's progress (007_sink_progress.sql).
-- Runs on MariaDB 10.5+ and MySQL 8.0.16+; every statement is idempotent, so re-running the file is harmless.

CREATE TABLE IF NOT EXISTS sink_partition_locks (
  source_topic      VARCHAR(249)  NOT NULL,                    -- 249: Kafka's longest topic name
  source_partition  INT           NOT NULL,
  PRIMARY KEY (source_topic, source_partition)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
