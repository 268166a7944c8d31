"""The contract (``wsdl/``, ``schemas/``) ships inside the package: one copy in the tree, copied into
``ntjp_producer/contract/`` when a wheel is built (``contract_files.py`` finds it there)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithContract(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "ntjp_producer" / "contract"
        for folder in ("wsdl", "schemas"):
            shutil.copytree(root / folder, target / folder, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithContract})
