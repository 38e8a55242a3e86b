"""01_cnn_classifier, BatchNorm in short runs: ``python -m course benchmark bn_momentum [--seeds 0 1 2]``.

The lesson's MNIST classifier with BatchNorm momentum 0.99 (Keras' default) and 0.9 (the
course's), trained 2 epochs on 2,700 images in batches of 64: training and test accuracy per
seed, and their mean and range.
"""
from __future__ import annotations

from . import emit, json_argument_parser


def main(argv=None) -> int:
    p = json_argument_parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--momenta", type=float, nargs="+", default=[0.99, 0.9])
    p.add_argument("--train-examples", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    from ..jobs.experiments import bn_momentum

    emit(bn_momentum(args.momenta, args.seeds, args.train_examples, args.epochs, args.batch_size), args.out)
    return 0
