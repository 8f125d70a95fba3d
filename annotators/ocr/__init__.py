"""OCR: backends that read text lines with boxes and confidence, and the stage that runs them."""
