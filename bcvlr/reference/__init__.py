"""The authors' BCV-LR code side by side with ours: loading their checkouts (never copied here),
and the equivalence harness that runs both on the same weights and batches."""
