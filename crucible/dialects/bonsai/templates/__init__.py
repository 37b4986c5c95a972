"""The server's own project templates for `create --project-type` (spec §3.1)."""
