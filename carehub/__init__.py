"""carehub's composition root: the ``carehub`` command, the demo and the local services it starts.

Nothing in the product packages imports from here; this package wires them together."""
