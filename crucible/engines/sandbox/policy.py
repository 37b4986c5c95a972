"""Static policy for user code: what may be written at all, checked at save time and before every run.

The check is the first of several layers (restricted builtins, module proxies, audit hook, rlimits,
seccomp): it rejects the obvious escape routes early with a message and a line number that a user can act on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType

from crucible.engines.sandbox.outcomes import CodeError, SandboxViolation

ALLOWED_PRIVATE_NAMES = frozenset({"__init__", "__name__"})
"""Underscore names that are harmless and common enough to allow (`super().__init__()`, `f.__name__`)."""

BLOCKED_ATTRIBUTES = frozenset(
    {
        # frames, code objects and globals reachable without a leading underscore
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "f_trace",
        "tb_frame",
        "tb_next",
        "func_globals",
        "func_code",
        "func_closure",
        "im_func",
        "im_self",
        # a class's bases, which include real metaclasses behind the sandbox's stand-ins
        "mro",
        # raw memory and files reachable from NumPy arrays
        "ctypes",
        "tofile",
        "dump",
    }
)
"""Attribute names refused everywhere, statically and by the guarded `getattr` family."""

_OPERATORS = ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and")
SPECIAL_METHODS = frozenset(
    {"__init__", "__repr__", "__str__", "__format__", "__hash__", "__bool__", "__len__", "__iter__"}
    | {"__next__", "__reversed__", "__contains__", "__getitem__", "__setitem__", "__delitem__"}
    | {"__missing__", "__call__", "__enter__", "__exit__", "__eq__", "__ne__"}
    | {"__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__pos__", "__abs__", "__invert__"}
    | {"__int__", "__float__", "__complex__", "__index__", "__round__", "__trunc__", "__floor__"}
    | {"__ceil__", "__divmod__", "__rdivmod__"}
    | {f"__{prefix}{op}__" for op in (*_OPERATORS, "xor", "or") for prefix in ("", "r", "i")}
)
"""Dunder methods a user class may define; the rest (`__array_interface__`, `__del__`, ...) are refused
because NumPy or the interpreter would act on them outside the code's control."""

DEFAULT_PACKAGES = frozenset({"numpy", "scipy"})
DEFAULT_DENIED_MODULES = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "numpy.lib.format",
        "numpy.lib.npyio",
        "numpy.lib.introspect",
        "scipy.io",
        "scipy.datasets",
    }
)
DEFAULT_DENIED_NAMES = frozenset(
    {
        "numpy.load",
        "numpy.save",
        "numpy.savez",
        "numpy.savez_compressed",
        "numpy.loadtxt",
        "numpy.savetxt",
        "numpy.genfromtxt",
        "numpy.fromfile",
        "numpy.fromregex",
        "numpy.memmap",
        "numpy.DataSource",
        "numpy.rec.fromfile",
        "numpy.lib.add_docstring",
        "numpy.lib.add_newdoc",
        "numpy.lib.stride_tricks.as_strided",
        "numpy.add_docstring",
        "numpy.add_newdoc",
        "scipy.LowLevelCallable",
        "scipy.sparse.load_npz",
        "scipy.sparse.save_npz",
    }
)
"""Dotted `module.attribute` names refused by module proxies (file access, raw memory, global mutation);
the objects they name are refused by identity too, wherever else they are reachable."""

SANDBOX_GETATTR = "__sb_getattr__"
"""Name (in the builtins mapping) of the guarded getattr that `x.format` is rewritten to call."""

_FORMAT_METHODS = frozenset({"format", "format_map"})


@dataclass(frozen=True)
class Policy:
    """What user code of one runtime may import and which modules and names proxies hand out."""

    imports: frozenset[str] = field(default_factory=lambda: frozenset({"numpy", "scipy", "random"}))
    packages: frozenset[str] = DEFAULT_PACKAGES
    denied_modules: frozenset[str] = DEFAULT_DENIED_MODULES
    denied_names: frozenset[str] = DEFAULT_DENIED_NAMES

    def module_allowed(self, name: str) -> bool:
        """True for a public module inside an allowed package that is not denied."""
        if any(part.startswith("_") for part in name.split(".")):
            return False
        if _within(name, self.denied_modules):
            return False
        return _within(name, self.packages)

    def import_allowed(self, name: str) -> bool:
        """True if `import name` may run: listed itself, or an allowed submodule of a listed module."""
        if any(part.startswith("_") for part in name.split(".")):
            return False
        if _within(name, self.denied_modules):
            return False
        if name in self.imports:
            return True
        return _within(name, self.imports) and self.module_allowed(name)

    def to_wire(self) -> dict[str, list[str]]:
        return {
            "imports": sorted(self.imports),
            "packages": sorted(self.packages),
            "denied_modules": sorted(self.denied_modules),
            "denied_names": sorted(self.denied_names),
        }

    @classmethod
    def from_wire(cls, data: dict[str, list[str]]) -> Policy:
        return cls(
            imports=frozenset(data["imports"]),
            packages=frozenset(data["packages"]),
            denied_modules=frozenset(data["denied_modules"]),
            denied_names=frozenset(data["denied_names"]),
        )


def _within(name: str, roots: Iterable[str]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def is_private(name: str) -> bool:
    """True for names the sandbox hides: a leading underscore, except the few harmless dunders."""
    return name.startswith("_") and name not in ALLOWED_PRIVATE_NAMES


def check_code(source: str, policy: Policy, filename: str = "<user>") -> ast.Module:
    """Parse and check user code; raise `CodeError` (syntax) or `SandboxViolation`, both with a line."""
    try:
        tree = ast.parse(source, filename=filename, mode="exec")
    except SyntaxError as exc:
        raise CodeError("SyntaxError", str(exc.msg), exc.lineno, filename) from None
    except ValueError as exc:  # e.g. null bytes in the source
        raise CodeError("SyntaxError", str(exc), None, filename) from None
    except (MemoryError, RecursionError):
        raise CodeError("SyntaxError", _TOO_COMPLEX, None, filename) from None
    try:
        _Checker(policy).visit(tree)
    except RecursionError:
        raise CodeError("SyntaxError", _TOO_COMPLEX, None, filename) from None
    return tree


_TOO_COMPLEX = "the code is too deeply nested to be checked"


def compile_code(source: str, policy: Policy, filename: str) -> CodeType:
    """Check, rewrite `x.format` into the guarded form, and compile for `exec`."""
    tree = check_code(source, policy, filename)
    try:
        tree = ast.fix_missing_locations(_FormatRewriter().visit(tree))
        return compile(tree, filename, "exec", dont_inherit=True)
    except (MemoryError, RecursionError):
        raise CodeError("SyntaxError", _TOO_COMPLEX, None, filename) from None


class _Checker(ast.NodeVisitor):
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def refuse(self, node: ast.AST, detail: str) -> None:
        raise SandboxViolation(detail, getattr(node, "lineno", None))

    def check_attribute(self, node: ast.AST, name: str) -> None:
        if is_private(name):
            self.refuse(node, f"access to private attribute '{name}' is not allowed")
        if name in BLOCKED_ATTRIBUTES:
            self.refuse(node, f"access to attribute '{name}' is not allowed")

    def check_name(self, node: ast.AST, name: str | None) -> None:
        if name is not None and name.startswith("__") and name not in ALLOWED_PRIVATE_NAMES:
            self.refuse(node, f"use of the name '{name}' is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.generic_visit(node)  # inner first: report `x.__class__` before `.__base__` after it
        self.check_attribute(node, node.attr)

    def visit_Name(self, node: ast.Name) -> None:
        self.check_name(node, node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.check_name(node, node.arg)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name.startswith("__") and node.name not in SPECIAL_METHODS:
            self.refuse(node, f"defining the special method '{node.name}' is not allowed")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        for name in node.names:
            self.check_name(node, name)

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self.check_name(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.check_name(node, node.rest)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for name in node.kwd_attrs:
            self.check_attribute(node, name)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self.policy.import_allowed(alias.name):
                self.refuse(node, f"import of '{alias.name}' is not allowed")
            self.check_name(node, alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.refuse(node, "relative imports are not allowed")
        if not self.policy.import_allowed(module):
            self.refuse(node, f"import from '{module}' is not allowed")
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"'from {module} import *' is not allowed")
            if alias.name.startswith("_"):
                self.refuse(node, f"import of private name '{alias.name}' is not allowed")
            self.check_name(node, alias.asname)


class _FormatRewriter(ast.NodeTransformer):
    """`x.format` → `__sb_getattr__(x, "format")`, so `str.format` cannot walk attributes unchecked."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr not in _FORMAT_METHODS or not isinstance(node.ctx, ast.Load):
            return node
        call = ast.Call(
            func=ast.Name(id=SANDBOX_GETATTR, ctx=ast.Load()),
            args=[node.value, ast.Constant(node.attr)],
            keywords=[],
        )
        return ast.copy_location(call, node)
