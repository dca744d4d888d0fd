"""sgdoctor: a preflight doctor for SGLang inference nodes on MetaX (MACA) GPUs."""

__version__ = "0.1.0"
