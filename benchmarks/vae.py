"""Nats per test image of the lesson-03 VAE: `python benchmarks/vae.py --latent-dim 32 --epochs 30`.

Trains through the same code path as `python -m course train vae` and prints the negative
ELBO, its two terms and the importance-weighted bound on the binarised test set, with the
seconds per epoch. Published figures (about 85-87 nats) use the full 60,000-image training
set; the shared 14,262-image subset gives higher ones.
"""
import argparse
import os
import tempfile

from course.jobs import vae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--iwae-k", type=int, default=50)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--out", help="keep the run folder here (default: a temporary folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or os.path.join(tmp, "vae")
        m = vae.train(vae.TrainConfig(latent_dim=args.latent_dim, epochs=args.epochs, iwae_k=args.iwae_k,
                                      fast=args.fast), out, verbose=0)
    print(f"train images {m['examples']}, test images {m['test_examples']}, latent {m['latent_dim']}, "
          f"epochs {m['epochs']}, {m['seconds_per_epoch']:.1f} s/epoch ({m['data_source']})")
    for key in ("test_nll_nats", "test_recon_nats", "test_kl_nats", "test_iwae_nats"):
        print(f"{key:>16}: {m[key]:.2f}")


if __name__ == "__main__":
    main()
