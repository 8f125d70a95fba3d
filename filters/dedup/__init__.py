"""Global dedup: exact and near-duplicate images and texts across a whole run.

`signatures` computes compact fingerprints per sample as batches stream (a normal stage);
`groups` turns all fingerprints of a run into duplicate decisions after the last unit is committed.
"""
