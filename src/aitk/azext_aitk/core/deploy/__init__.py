"""What `deploy` decides: the sync plan and manifest, share names, adapter specs, serve.json,
the launcher release, the rollout."""
