"""Sources: expand units of raw input (PDFs, sites, chart specs) into samples."""
