-- Static analysis and output redaction (issue 6): risk level, findings and secret counts.
ALTER TABLE executions ADD COLUMN risk TEXT, ADD COLUMN findings TEXT, ADD COLUMN secrets TEXT;
