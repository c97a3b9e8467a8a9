"""The execution engine: policy -> execute -> record."""
