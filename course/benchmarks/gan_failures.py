"""02_dcgan, When GANs fail: ``python -m course benchmark gan_failures [--seeds 0 1 2] [--steps 300] [--n 2000]``.

For D at G's learning rate (balanced) and at ten times it, and for the non-saturating and
the minimax G loss, DCGANs trained ``--steps`` steps on MNIST (one per seed); prints, per
setting, FD / precision / recall on ``--n`` samples against ``--n`` real test images, the
largest class share, and D(G(z)) and G's gradient norm over the second half of the run (mean,
spread and range over seeds), then every run's row (class histogram included).
"""
from __future__ import annotations

from . import emit, json_argument_parser


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--n", type=int, default=2000, help="samples scored, and real test images they are scored against")
    p.add_argument("--speeds", nargs="+", default=["balanced", "D 10x faster"],
                   help='which D speeds: "balanced" (D at 2e-4) and/or "D 10x faster" (2e-3)')
    p.add_argument("--fast", action="store_true", help="fast mode: small data and the fast evaluator")
    p.add_argument("--verbose", type=int, default=0)
    args = p.parse_args(argv)
    from ..jobs.experiments import gan_failures

    emit(gan_failures(seeds=args.seeds, steps=args.steps, n=args.n, fast=args.fast or None, speeds=tuple(args.speeds),
                      verbose=args.verbose), args.out)
    return 0
