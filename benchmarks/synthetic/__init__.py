"""A labelled corpus of EMS-like streams of our own design, beside NAB (see `corpus`, `run`)."""
