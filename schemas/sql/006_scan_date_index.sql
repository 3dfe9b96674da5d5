-- Serving reads id_transactions by event time: each local day's scans once (src/serving/history.ts), and the first
-- scan's time (where the label history starts). Without an index on scan_date each of those read the whole table.
-- ADD INDEX IF NOT EXISTS is MariaDB's form (re-running the file is harmless there); on MySQL 8 add it by hand.
ALTER TABLE id_transactions ADD INDEX IF NOT EXISTS ix_transactions_date (scan_date);
