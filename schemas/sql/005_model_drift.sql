-- What serving needs of a model besides its graph: the drift reference (its training data binned, src/ml/drift.ts)
-- and its split-conformal prediction interval, both JSON in LONGTEXT as the other JSON columns of ml_models.
-- NULL for models registered without them. ADD COLUMN IF NOT EXISTS is MariaDB's form (re-running the file is
-- harmless there); on MySQL 8 apply the two columns by hand.
--
-- drift_reference: {"rows", "numeric": {column: {"edges", "proportions", "missing"}}, "categorical": {column:
-- {"categories", "proportions", "missing"}}, "prediction": {"edges", "proportions", "missing"}}, a few KB.
-- prediction_interval: {"coverage", "lower", "upper"}: offsets added to the point prediction.
ALTER TABLE ml_models ADD COLUMN IF NOT EXISTS drift_reference LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
  CHECK (drift_reference IS NULL OR JSON_VALID(drift_reference));

ALTER TABLE ml_models ADD COLUMN IF NOT EXISTS prediction_interval LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
  CHECK (prediction_interval IS NULL OR JSON_VALID(prediction_interval));
