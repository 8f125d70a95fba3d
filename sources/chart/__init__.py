"""Charts paired with their data: synthetic charts rendered from generated tables, and extracted ones."""
