"""Annotators: stages that read a sample's image and add columns (OCR lines; later charts, layout)."""
