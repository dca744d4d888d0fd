"""Host probes. Every network or subprocess call takes an explicit timeout."""
