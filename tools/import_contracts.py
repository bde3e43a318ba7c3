"""An import-linter contract type this project needs and import-linter lacks: an allow-list.

`forbidden` names what a package may not import; `allowed_imports` names all it may import, so
a pure package (the numerics, the quiz domain) stays pure whichever library is added to the
project next. Registered in pyproject.toml under [tool.importlinter] contract_types; it needs
`include_external_packages = true` (external and standard-library imports are then in the graph).
"""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _within(module: str, names: set[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


class AllowedImportsContract(Contract):
    """Modules in `source_modules` (packages, with their descendants) import only one another,
    modules in `allowed_modules` (with their descendants) and, unless `stdlib = false`, the
    standard library. Direct imports are checked (an allowed module's own imports are its own
    business)."""

    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())
    stdlib = fields.BooleanField(required=False, default=True)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources: set[str] = set(self.source_modules)  # type: ignore[arg-type]
        allowed = sources | set(self.allowed_modules)  # type: ignore[arg-type]
        if self.stdlib:
            allowed |= set(sys.stdlib_module_names) | {"__future__"}
        importers = set(sources)
        for source in sources:
            if source not in graph.modules:
                raise ValueError(f"Module '{source}' does not exist.")
            importers |= graph.find_descendants(source)
        illegal = []
        for importer in sorted(importers):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if _within(imported, allowed):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = tuple(detail["line_number"] for detail in details)
                illegal.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not illegal, metadata={"illegal_imports": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        allowed = ", ".join(self.allowed_modules)  # type: ignore[arg-type]
        output.print_error(
            f"Only {allowed}{' and the standard library' if self.stdlib else ''} may be imported:"
        )
        output.new_line()
        for illegal in check.metadata["illegal_imports"]:
            lines = ", ".join(map(str, illegal["lines"]))
            output.print_error(f"- {illegal['importer']} -> {illegal['imported']} (l.{lines})")
        output.new_line()
