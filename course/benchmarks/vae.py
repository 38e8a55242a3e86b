"""Nats per test image of the lesson-03 VAE: `python -m course benchmark vae --latent-dim 32 --epochs 30`.

Trains through the same code path as `python -m course train vae` (or re-measures a finished
run with `--run DIR`) and prints the negative ELBO, its two terms and the importance-weighted
bound (k = --iwae-k) on the binarised test set, then a large-k importance-weighted estimate
(`--large-k`, default 1000 samples per image) on the first `--subset` test images. Published
MNIST figures (about 85-87 nats) are large-k estimates after long training on the complete
60,000-image training set; compare them with the large-k row. The shared 14,262-image subset
gives higher figures.
"""
import argparse
import os
import tempfile
import time

from .. import data
from ..evaluation import evaluate_nats
from ..jobs import vae as vae_job
from ..models import vae
from ..runs import load_saved_model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--iwae-k", type=int, default=50)
    p.add_argument("--large-k", type=int, default=1000)
    p.add_argument("--subset", type=int, default=500, help="test images for the large-k estimate")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--run", help="measure this finished run instead of training one")
    p.add_argument("--out", help="keep the run folder here (default: a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.run or args.out or os.path.join(tmp, "vae")
        if not args.run:
            m = vae_job.train(vae_job.TrainConfig(latent_dim=args.latent_dim, epochs=args.epochs, iwae_k=args.iwae_k,
                                                  fast=args.fast), out, verbose=0)
            print(f"train images {m['examples']}, test images {m['test_examples']}, latent {m['latent_dim']}, "
                  f"epochs {m['epochs']}, {m['seconds_per_epoch']:.1f} s/epoch ({m['data_source']})")
            for key in ("test_neg_elbo_nats", "test_recon_nats", "test_kl_nats", "test_iwae_nats"):
                print(f"{key:>18}: {m[key]:.2f}" + (f" (k = {m['iwae_k']})" if key == "test_iwae_nats" else ""))
        encoder, decoder = (load_saved_model(out, f"{n}.keras", "vae") for n in ("encoder", "decoder"))
        model = vae.VAE(encoder, decoder)
        (_, _), (x_test, _) = data.load("mnist")
        x = vae.binarize_fixed(x_test, seed=0)[: args.subset]
        for k in (1, args.iwae_k, args.large_k):
            start = time.perf_counter()
            figures = evaluate_nats(model, x, iwae_k=k, batch_size=max(1, 20_000 // k))
            print(f"first {len(x)} test images, k = {k:>5}: iwae_nats {figures['iwae_nats']:.2f} "
                  f"(neg_elbo_nats {figures['neg_elbo_nats']:.2f}; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
