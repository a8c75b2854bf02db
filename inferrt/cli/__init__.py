"""The ``inferrt`` command line."""
