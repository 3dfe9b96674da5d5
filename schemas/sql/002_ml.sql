-- ML tables from the seed: the offline feature store log and the record of trained models.
-- Runs on MariaDB 10.5+ and MySQL 8.0.16+; every statement is idempotent, so re-running the file is harmless.

-- Offline feature store: every feature value with its event time, for point-in-time training frames.
-- The unique key makes writes idempotent upserts (INSERT ... ON DUPLICATE KEY UPDATE), so a replay after a crash
-- rewrites the same rows instead of adding new ones. window_name is '' rather than NULL for per-event features
-- because a NULL in a unique key never collides, which would let duplicates in.
-- The unique key also serves the point-in-time lookup: latest value of (entity, feature, window) at or before t.
CREATE TABLE IF NOT EXISTS ml_feature_store (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  feature_name      VARCHAR(128)  NOT NULL,                    -- e.g. usage_frequency_7d, rental_quantity
  target_entity     VARCHAR(128)  NOT NULL,                    -- FeatureVector.entity_id
  entity_type       VARCHAR(32)   NOT NULL,                    -- item, class, store, transaction, global
  feature_value     DOUBLE        NOT NULL,
  feature_type      VARCHAR(32)   NOT NULL DEFAULT '',         -- FeatureVector.feature_type (categorical, temporal, ...)
  feature_timestamp DATETIME(3)   NOT NULL,                    -- event time the value holds at; window end if windowed
  window_name       VARCHAR(32)   NOT NULL DEFAULT '',         -- 1m, 5m, 1h, 1d, 7d-sliding; '' for per-event
  data_source       VARCHAR(64)   NOT NULL,                    -- rfid, pos, weather_api, ...
  quality_score     DOUBLE        NOT NULL DEFAULT 1,          -- FeatureVector.confidence, 0..1
  is_real_time      BOOLEAN       NOT NULL DEFAULT TRUE,       -- false for values from the batch collectors
  created_at        DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),  -- processing time of the last write
  PRIMARY KEY (id),
  UNIQUE KEY uq_feature_store_point (target_entity, feature_name, window_name, feature_timestamp),
  KEY ix_feature_store_name_time (feature_name, feature_timestamp)  -- one feature across entities over time
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
  COMMENT='Offline feature log, one row per entity, feature, window and event time';

-- One row per trained model and evaluation, as the seed logs them; the registry also announces versions on
-- models.versions. JSON is kept in LONGTEXT with a JSON_VALID check rather than the JSON type: MariaDB's JSON is
-- LONGTEXT already, MySQL's is binary, and mysql2 would return a string from one and an object from the other.
-- The unique key lets the training job retry its write (ON DUPLICATE KEY UPDATE) without duplicate rows.
CREATE TABLE IF NOT EXISTS ml_model_performance (
  id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  service_name        VARCHAR(64)   NOT NULL,                  -- demand, maintenance, quality
  model_type          VARCHAR(64)   NOT NULL,                  -- algorithm, e.g. gradient_boosting, naive_baseline
  model_version       VARCHAR(128)  NOT NULL,
  training_date       DATETIME(3)   NOT NULL,                  -- when training finished (UTC)
  performance_metrics LONGTEXT      NOT NULL,                  -- JSON: held-out metrics
  accuracy_score      DOUBLE        NULL,                      -- headline metric (MAE for regression, AUC for classification)
  is_active           BOOLEAN       NOT NULL DEFAULT FALSE,    -- the version currently in production
  params              LONGTEXT      NULL,                      -- JSON: hyperparameters
  PRIMARY KEY (id),
  UNIQUE KEY uq_model_performance_version (service_name, model_type, model_version),
  KEY ix_model_performance_active (service_name, is_active),
  CONSTRAINT ck_model_performance_metrics CHECK (JSON_VALID(performance_metrics)),
  CONSTRAINT ck_model_performance_params CHECK (params IS NULL OR JSON_VALID(params))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
  COMMENT='Trained models with their held-out metrics';
