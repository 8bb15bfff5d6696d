-- The shard of each tenant (issue 16, item 3): the database its rows live in, by the name
-- DATABASE_SHARDS gives it; 'default' is DATABASE_URL's. Read from the directory (the default
-- database), where every tenant and API key is; a tenant on another shard has a copy of its
-- tenant row there too (its tables' references and rule versions need it).
alter table tenant add column shard text collate "C" not null default 'default';
