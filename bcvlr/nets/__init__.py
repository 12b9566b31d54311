"""Neural-network building blocks shared by BCV-LR and the baselines."""
