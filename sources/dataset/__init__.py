"""Existing image-text data (Parquet, JSON Lines, JSON, Hugging Face `save_to_disk`) mapped into our schema."""
