"""target-lytics: a Singer target that writes records into Lytics streams."""
