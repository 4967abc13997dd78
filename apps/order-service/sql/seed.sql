-- The seed's items (what SEED_ITEMS=on inserts at start when they are missing).
INSERT INTO tb_inventory (item_name, quantity) VALUES
  ('item1', 100),
  ('item2', 200),
  ('item3', 150),
  ('item4', 300)
ON CONFLICT (item_name) DO NOTHING;
