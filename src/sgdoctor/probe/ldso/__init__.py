"""A static model of glibc's dynamic loader: where dlopen(NAME) would find each library."""


class LoaderError(Exception):
    """The loader itself cannot be modelled here (the Python executable is unreadable)."""
