"""The built-in checks, written only against sgdoctor.api, sgdoctor.parse and sgdoctor.probe."""
