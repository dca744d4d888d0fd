"""The build step pyproject.toml cannot declare: the gettext catalogues (.po in the
repository) are compiled to .mo with Babel, into the wheel, or beside the sources for an
editable install."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path(__file__).resolve().parent / "src/sgdoctor/locale"


def compile_catalogues(target: Path) -> list[Path]:
    """Every locale/<lang>/LC_MESSAGES/*.po compiled to a .mo under `target`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(LOCALE).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src:
            catalog = read_po(src)
        with mo.open("wb") as out:
            write_mo(out, catalog)
        written.append(mo)
    return written


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            compile_catalogues(LOCALE)
        else:
            compile_catalogues(Path(self.build_lib) / "sgdoctor" / "locale")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            base = Path(self.build_lib) / "sgdoctor" / "locale"
            outputs += [str(base / po.relative_to(LOCALE).with_suffix(".mo"))
                        for po in LOCALE.glob("*/LC_MESSAGES/*.po")]
        return outputs


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPy})
