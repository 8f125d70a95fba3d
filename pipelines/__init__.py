"""vlforge's core: the sample schema, the stage protocol, the Ray Data runner, shards and the CLI."""
