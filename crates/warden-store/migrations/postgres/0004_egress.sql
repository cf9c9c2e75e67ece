-- Network egress (issue 17): what an execution's sandbox connected to, as JSON text.
ALTER TABLE executions ADD COLUMN egress TEXT;
