"""Networks the project ships (defined in code, random or seeded weights): used by the main job and tests."""
