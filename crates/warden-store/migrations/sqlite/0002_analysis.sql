-- Static analysis and output redaction (issue 6): risk level, findings and secret counts.
ALTER TABLE executions ADD COLUMN risk TEXT;
ALTER TABLE executions ADD COLUMN findings TEXT;
ALTER TABLE executions ADD COLUMN secrets TEXT;
