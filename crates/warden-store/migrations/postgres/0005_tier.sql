-- Isolation tiers (issue 20): which tier ran an execution (NULL: namespaces, from before tiers).
ALTER TABLE executions ADD COLUMN tier TEXT;
