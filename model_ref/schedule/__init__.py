"""The training recipe as data: what each stage trains and on what (`stages`), and its learning rate (`lr`)."""
