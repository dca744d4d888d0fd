"""Pure parsers that read a value exactly as its consumer does. No I/O here."""
