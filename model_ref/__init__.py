"""The reference DeepSeek-VL-style model and its three-stage trainer, fed straight from vlforge shards.

It exists to show that the shards train a VLM: a hybrid vision encoder (a low-resolution semantic
ViT and a high-resolution detail ViT merged into a fixed number of visual tokens), the two-layer
hybrid MLP adaptor and a decoder-only language model, trained in the report's three stages. The
tiny default trains on a laptop CPU in minutes; the report's 1.3B and 7B shapes are named configs.
This package knows only the shard format (Parquet files with the sample columns), never the
pipeline that wrote them.
"""
