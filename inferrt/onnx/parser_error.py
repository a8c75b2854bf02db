"""ParserError: one error of an OnnxParser, as TensorRT's ``IParserError``."""
from __future__ import annotations

from ..enums import ParserErrorCode


class ParserError:
    """One parser error, as TensorRT's ``IParserError``."""

    def __init__(self, code, desc, node=-1, node_name="", node_operator="", func="", stack=(), file="", line=0):
        self._code = ParserErrorCode.parse(code)
        self._desc = str(desc)
        self._node = int(node)
        self._node_name = node_name or ""
        self._node_operator = node_operator or ""
        self._func = func
        self._stack = list(stack)
        self._file = file or __file__
        self._line = int(line)

    def code(self):
        return self._code

    def desc(self) -> str:
        return self._desc

    def file(self) -> str:
        return self._file

    def line(self) -> int:
        return self._line

    def func(self) -> str:
        return self._func

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return self._node_name

    def node_operator(self) -> str:
        return self._node_operator

    def local_function_stack(self) -> list[str]:
        return list(self._stack)

    def local_function_stack_size(self) -> int:
        return len(self._stack)

    def __str__(self):
        where = (f"In node {self._node} with name: {self._node_name} and operator: {self._node_operator} "
                 if self._node >= 0 or self._node_name else "")
        if self._stack:
            where += f"(in local functions {' -> '.join(self._stack)}) "
        return f"{where}({self._func}): {self._code.name}: {self._desc}"

    __repr__ = __str__


class ParseAbort(Exception):
    """Stops a parse after its errors were recorded (never escapes OnnxParser)."""

