"""`python -m target_lytics`: the same CLI as the `target-lytics` console script."""

from target_lytics.target import TargetLytics

if __name__ == "__main__":
    TargetLytics.cli()
