"""Where the packages are (the metadata is pyproject.toml's): the library ``diswm`` and the command ``diswm_app`` in
``src/``; the application's ``experiments/`` and ``paper_figures/`` at the top level (the design card's layout),
installed under the application's namespace as ``diswm_app.experiments`` and ``diswm_app.paper_figures`` (no generic
top-level module names in site-packages). Every package is discovered, none listed, so none can be forgotten."""

from setuptools import find_packages, setup

#: the application's top-level folders -> the package each installs as
MAPPED = {"diswm_app.experiments": "experiments", "diswm_app.paper_figures": "paper_figures"}


def discovered() -> tuple[list[str], dict[str, str]]:
    packages = find_packages("src")
    package_dir = {"": "src"}
    for package, folder in MAPPED.items():
        for sub in ["", *find_packages(folder)]:
            name = f"{package}.{sub}" if sub else package
            packages.append(name)
            package_dir[name] = f"{folder}/{sub.replace('.', '/')}" if sub else folder
    return packages, package_dir


packages, package_dir = discovered()
setup(packages=packages, package_dir=package_dir)
