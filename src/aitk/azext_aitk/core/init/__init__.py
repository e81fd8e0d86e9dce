"""What `init` writes and recognises: AI Toolkit's original files, the shipped templates, workspace file writes."""
