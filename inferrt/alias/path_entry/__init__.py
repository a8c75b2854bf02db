"""The folder ``inferrt.alias.path()`` names: it holds only the ``tensorrt`` alias package (this file exists so the
folder ships with inferrt; nothing imports it)."""
