-- The model registry: every trained model with its ONNX artefact, its spec, metrics and lifecycle status.
-- Runs on MariaDB 10.5+ and MySQL 8.0.16+; every statement is idempotent, so re-running the file is harmless.

-- One row per registered model version (src/ml/registry/registry.ts). Promotion publishes a ModelVersion record
-- on models.versions and every pipeline instance loads the row by (service, version), checks sha256 and swaps.
--
-- At most one row per service has status production. No key enforces it (a unique key on a generated column
-- could, at the cost of an extra column and index): the registry enforces it in code,
-- by promoting in one transaction that first locks every row of the service (SELECT ... FOR UPDATE), archives the
-- current production row and then promotes the new one, so two concurrent promotions run one after the other.
-- Status changes go through the registry only (npm run models), never through hand-written UPDATEs.
--
-- promoted_at is strictly increasing per service (the registry takes max(now, previous + 1 ms)), so the newest
-- promotion always wins on every instance, and a rollback (a new promotion of an older version) does too.
-- An archived row with promoted_at set was production once: rollback re-promotes the newest of those.
-- JSON is kept in LONGTEXT with a JSON_VALID check, as in ml_model_performance (mysql2 would return a string from
-- MariaDB's JSON type and an object from MySQL's).
CREATE TABLE IF NOT EXISTS ml_models (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  service           VARCHAR(64)   NOT NULL,                    -- demand, maintenance, quality
  version           VARCHAR(128)  NOT NULL,                    -- <service>-<UTC yyyymmddHHMMss>-<first 8 hex of sha256>
  algorithm         VARCHAR(64)   NOT NULL,                    -- e.g. gradient_boosting, random_forest, linear
  feature_names     LONGTEXT      NOT NULL,                    -- JSON array: model inputs in the order the graph expects
  spec              LONGTEXT      NOT NULL,                    -- JSON ModelSpec (src/ml/model-spec.ts): the JS predictor serves it too
  metrics           LONGTEXT      NOT NULL,                    -- JSON object: held-out metrics
  onnx              LONGBLOB      NOT NULL,                    -- the ONNX model bytes (preprocessing inside the graph)
  sha256            CHAR(64)      NOT NULL,                    -- hex SHA-256 of onnx, checked by every loader
  status            ENUM('candidate', 'production', 'archived') NOT NULL DEFAULT 'candidate',
  created_at        DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),  -- registration time (UTC)
  promoted_at       DATETIME(3)   NULL,                        -- latest promotion to production (UTC); null if never
  validation_score  DOUBLE        NULL,                        -- held-out score used for ensemble weights
  notes             TEXT          NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_models_service_version (service, version),
  KEY ix_models_service_status (service, status, promoted_at),  -- current production, rollback target
  CONSTRAINT ck_models_feature_names CHECK (JSON_VALID(feature_names)),
  CONSTRAINT ck_models_spec CHECK (JSON_VALID(spec)),
  CONSTRAINT ck_models_metrics CHECK (JSON_VALID(metrics))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
  COMMENT='Model registry: ONNX artefacts, specs, metrics and lifecycle status per service';
