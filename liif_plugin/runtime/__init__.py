"""This machine: what it computes natively and which precision to use (``hardware``), the memory
format of convolutions (``memory_format``), its measured speed (``speed``), the cost model of a
render (``cost``) and being a good neighbour in a long-running viewer (``memory``)."""
