-- Organization-wide switches an organization admin sets: whether members
-- may run queries on the organization's data sources (previews stay open to
-- every role that may see a data source).
ALTER TABLE organizations ADD COLUMN querying INTEGER NOT NULL DEFAULT 1;
