-- A sink's progress per source partition, on the row its transactions already lock (004_sink_locks.sql): the highest
-- source offset it has stored, written in the same SQL transaction as the rows themselves, so a reader that sees the
-- offset also sees every row of the partition up to it. Serving waits on it before it reads an item's history from
-- id_transactions (src/serving/sink-progress.ts), so an `out` scan is never scored against a history the history
-- sink has not caught up with. NULL: nothing stored yet (rows created before this column). ADD COLUMN IF NOT EXISTS
-- is MariaDB's form (re-running the file is harmless there); on MySQL 8 add the column by hand.
ALTER TABLE sink_partition_locks ADD COLUMN IF NOT EXISTS stored_offset BIGINT NULL;
