-- Stored files belong to a workspace, with the same visibility as data
-- sources: members see the files of their workspaces only. Files uploaded
-- before go to their organization's default workspace.
ALTER TABLE storage_files ADD COLUMN workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE;
UPDATE storage_files SET workspace_id = (
    SELECT w.id FROM workspaces w WHERE w.organization_id = storage_files.organization_id AND w.is_default = 1
);
CREATE INDEX storage_files_workspace ON storage_files (organization_id, workspace_id, created_at);
