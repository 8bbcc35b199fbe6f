"""Builds and installs the Python module `pathq` without CMake and without downloads:

    pip install --no-build-isolation .      (Debian: python3-setuptools, pybind11-dev / python3-pybind11,
                                             python3-dev, libeigen3-dev, nlohmann-json3-dev, libomp-dev)

The CMake build (PATHQ_BUILD_PYTHON, on when pybind11 is found) builds the same module into
build/python; this file is for installing it into a Python environment.
"""
import os
import re

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def version():
    with open(os.path.join(ROOT, "include", "pathq", "version.hpp")) as f:
        text = f.read()
    parts = [re.search(r"#define PATHQ_VERSION_%s (\d+)" % k, text) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(p.group(1) for p in parts) if all(parts) else "0"


def eigen_include():
    for d in ("/usr/include/eigen3", "/usr/local/include/eigen3"):
        if os.path.isdir(d):
            return d
    raise RuntimeError("Eigen 3 headers not found (Debian: apt-get install libeigen3-dev)")


native = os.environ.get("PATHQ_NATIVE", "1") != "0"
module = Pybind11Extension(
    "pathq._pathq",
    [os.path.join("python", "src", "module.cpp")],
    include_dirs=[os.path.join(ROOT, "include"), eigen_include()],
    cxx_std=17,
    extra_compile_args=["-O3", "-fopenmp"] + (["-march=native"] if native else []),
    extra_link_args=["-fopenmp"],
)

setup(
    name="pathq",
    version=version(),
    description="Post-training quantization of neural-network layers (GPFQ, SPFQ, OPTQ, ...) with error bounds",
    packages=["pathq"],
    package_dir={"pathq": os.path.join("python", "pathq")},
    ext_modules=[module],
    cmdclass={"build_ext": build_ext},
    zip_safe=False,
)
