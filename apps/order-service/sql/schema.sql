-- The order service's tables: the seed's tb_inventory plus last_fence (the largest fencing token
-- that has claimed the row: read it for an order), and tb_orders (one row per accepted order). The service runs this
-- at start (every statement is IF NOT EXISTS); docker-compose.yml mounts it into PostgreSQL.
CREATE TABLE IF NOT EXISTS tb_inventory (
  id serial PRIMARY KEY,
  item_name varchar(255) NOT NULL UNIQUE,
  quantity integer NOT NULL,
  last_fence bigint NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS tb_orders (
  id bigserial PRIMARY KEY,
  item_name varchar(255) NOT NULL,
  quantity integer NOT NULL,
  fence bigint,
  instance text NOT NULL,
  request_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
