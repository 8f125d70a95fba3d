"""The use-case taxonomy: the category tree as data, the request classifier, the tagger and the
instruction builder."""
