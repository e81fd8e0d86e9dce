#!/usr/bin/env python
"""aitk: serve a LoRA fine-tuned LLM on Azure Container Apps with vLLM, from the az CLI."""

from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="aitk",
    version=VERSION,
    description="Serve LoRA fine-tuned LLMs from an Azure Files share on Azure Container Apps with vLLM.",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    license="MIT",
    author="aitk developers",
    classifiers=[
        "Development Status :: 4 - Beta",
        "Programming Language :: Python :: 3",
        "Environment :: Console",
    ],
    python_requires=">=3.10",
    # The az extension, plus the serving launcher (one copy of its code, in container/), which
    # deploy uploads to the share and which shares its layout constants with the extension.
    package_dir={"": "src/aitk", "aitk_serve": "container/aitk_serve"},
    packages=find_packages("src/aitk", include=["azext_aitk", "azext_aitk.*"]) + ["aitk_serve"],
    package_data={
        "azext_aitk": ["azext_metadata.json", "templates/*", "templates/modules/*"],
        "aitk_serve": ["static/*"],
    },
    # Everything the extension imports ships with azure-cli 2.91 (see requirements/ext.txt).
    install_requires=[],
)
