"""BCV-LR, the method the suite exists for."""
