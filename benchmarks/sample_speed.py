"""Sampling characters/s at batch 1, temperature 1: ``LanguageModel.sample`` against a plain torch loop.

    python benchmarks/sample_speed.py                 # 2x512 LSTM, 400 characters, 7 alternating rounds
    python benchmarks/sample_speed.py --hidden 128 --length 1000
"""

import argparse
import json

from unroll import bench


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--length", type=int, default=400, help="characters per round and side")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    r = bench.sample_speed(args.length, args.rounds, with_torch=not args.no_torch, H=args.hidden)
    line = f"2x{args.hidden} LSTM, batch 1: unroll {r['unroll_chars_per_s']:,.0f} chars/s"
    if "ratio" in r:
        line += f", torch {r['torch_chars_per_s']:,.0f} chars/s, unroll/torch x{r['ratio']:.2f} (median of rounds)"
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
