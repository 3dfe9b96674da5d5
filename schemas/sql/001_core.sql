-- Core operational tables from the seed: the item master and the log of every RFID scan.
-- Runs on MariaDB 10.5+ and MySQL 8.0.16+; every statement is idempotent, so re-running the file is harmless.

-- One row per RFID-tagged item. Kept up to date from rfid.scans; training reads it for item age and history.
-- utf8mb4_bin: ids compare byte for byte, as Kafka keys and Redis keys do, and the collation exists on both
-- MariaDB and MySQL (their default collations differ, which would make unique keys behave differently).
CREATE TABLE IF NOT EXISTS id_item_master (
  tag_id            VARCHAR(64)   NOT NULL,                    -- EPC/tag id, the Kafka key of rfid.scans
  rental_class_num  VARCHAR(32)   NOT NULL,                    -- rental class (product line)
  common_name       VARCHAR(255)  NULL,                        -- human name of the class, e.g. 40x60 frame tent
  store_id          VARCHAR(32)   NULL,                        -- home store; null until first seen at a store
  status            VARCHAR(32)   NOT NULL DEFAULT 'available', -- available, out, return, damage, repair, retired
  quality_grade     TINYINT       NULL,                        -- 1 = poor ... 5 = like new, from the latest scan
  date_created      DATETIME(3)   NULL,                        -- when the item entered the fleet (UTC)
  date_last_scanned DATETIME(3)   NULL,                        -- event time of the latest scan (UTC)
  turnover_ytd      DECIMAL(12,2) NOT NULL DEFAULT 0,          -- rental revenue this year; DECIMAL because it is money
  turnover_ltd      DECIMAL(12,2) NOT NULL DEFAULT 0,          -- rental revenue over the item's life
  repair_cost_ltd   DECIMAL(12,2) NOT NULL DEFAULT 0,          -- repair spend over the item's life
  usage_count       INT UNSIGNED  NOT NULL DEFAULT 0,          -- completed rentals (out scans)
  PRIMARY KEY (tag_id),
  KEY ix_item_master_class_store (rental_class_num, store_id), -- available stock per class and store (restock, pricing)
  KEY ix_item_master_status (status),
  CONSTRAINT ck_item_master_quality CHECK (quality_grade IS NULL OR quality_grade BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
  COMMENT='One row per RFID-tagged rental item';

-- Every valid scan, as read from rfid.scans. The source position is a unique key so a replay after a crash
-- or rebalance (INSERT IGNORE / ON DUPLICATE KEY) never stores a scan twice: exactly-once effect.
-- No foreign key to id_item_master: a scan may arrive before the item master knows the tag, and must not fail.
CREATE TABLE IF NOT EXISTS id_transactions (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  tag_id            VARCHAR(64)   NOT NULL,
  rental_class_num  VARCHAR(32)   NOT NULL,
  scan_type         VARCHAR(16)   NOT NULL,                    -- in, out, return, damage, repair (validated upstream)
  scan_date         DATETIME(3)   NOT NULL,                    -- event time of the scan (UTC)
  reader_id         VARCHAR(64)   NOT NULL,
  store_id          VARCHAR(32)   NOT NULL,
  quality_grade     TINYINT       NOT NULL,                    -- 1 = poor ... 5 = like new
  notes             TEXT          NULL,
  source_topic      VARCHAR(249)  NOT NULL,                    -- 249: Kafka's longest topic name
  source_partition  INT           NOT NULL,
  source_offset     BIGINT        NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_transactions_source (source_topic, source_partition, source_offset),
  KEY ix_transactions_tag_date (tag_id, scan_date),          -- an item's history, the seed's training joins
  CONSTRAINT ck_transactions_quality CHECK (quality_grade BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
  COMMENT='Every valid RFID scan, unique by Kafka source position';
