"""Training data straight from the shards: an index of the Parquet rows by what they can teach
(`shards`), image decoding (`images`), interleaved documents split at their image markers
(`documents`), token sequences with loss masks (`sequences`), the language/multimodal/interleaved
mix per step (`mixer`) and the per-step batch loader (`loader`)."""
