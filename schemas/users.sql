-- Least-privilege users of tagstream (docs/security.md). Generated from src/io/mysql/users.ts: edit that, then
-- `npm run -s stack -- db-users > schemas/users.sql`. Not a migration (the migrations run as root, or
-- another DBA account, and create no users). Run it as root after the migrations, each '<password of ...>'
-- replaced (the secure stack does the same with random passwords: `npm run stack -- up --secure`).
-- Re-running it sets the passwords again and adds missing grants; it revokes nothing.

-- tagstream
CREATE USER IF NOT EXISTS 'tagstream'@'%' IDENTIFIED BY '<password of tagstream>' REQUIRE SSL;
ALTER USER 'tagstream'@'%' IDENTIFIED BY '<password of tagstream>' REQUIRE SSL;
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`id_item_master` TO 'tagstream'@'%';
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`id_transactions` TO 'tagstream'@'%';
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`ml_feature_store` TO 'tagstream'@'%';
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`sink_partition_locks` TO 'tagstream'@'%';
GRANT SELECT ON `tagstream`.`ml_models` TO 'tagstream'@'%';
GRANT SELECT ON `tagstream`.`schema_migrations` TO 'tagstream'@'%';

-- trainer
CREATE USER IF NOT EXISTS 'trainer'@'%' IDENTIFIED BY '<password of trainer>' REQUIRE SSL;
ALTER USER 'trainer'@'%' IDENTIFIED BY '<password of trainer>' REQUIRE SSL;
GRANT SELECT ON `tagstream`.`id_item_master` TO 'trainer'@'%';
GRANT SELECT ON `tagstream`.`id_transactions` TO 'trainer'@'%';
GRANT SELECT ON `tagstream`.`ml_feature_store` TO 'trainer'@'%';
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`ml_models` TO 'trainer'@'%';
GRANT SELECT, INSERT, UPDATE ON `tagstream`.`ml_model_performance` TO 'trainer'@'%';
GRANT SELECT ON `tagstream`.`schema_migrations` TO 'trainer'@'%';

-- api
CREATE USER IF NOT EXISTS 'api'@'%' IDENTIFIED BY '<password of api>' REQUIRE SSL;
ALTER USER 'api'@'%' IDENTIFIED BY '<password of api>' REQUIRE SSL;
GRANT SELECT ON `tagstream`.`id_item_master` TO 'api'@'%';
GRANT SELECT ON `tagstream`.`id_transactions` TO 'api'@'%';
GRANT SELECT ON `tagstream`.`ml_feature_store` TO 'api'@'%';
GRANT SELECT ON `tagstream`.`ml_models` TO 'api'@'%';
GRANT SELECT ON `tagstream`.`ml_model_performance` TO 'api'@'%';
GRANT SELECT ON `tagstream`.`schema_migrations` TO 'api'@'%';
