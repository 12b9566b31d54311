"""One module per baseline method, each built on bcvlr's blocks."""
