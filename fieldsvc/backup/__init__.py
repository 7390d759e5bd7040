"""Backups of the embedded default and moving the file store into a bucket."""
